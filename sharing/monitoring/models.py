"""Post-loan monitoring: a member's watches on its own borrowers, the events others' changes cause for
them, and the webhook endpoints and deliveries that carry those events out."""

from __future__ import annotations

import pgtrigger
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import BrinIndex, HashIndex
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Watch(models.Model):
    """A member's borrower, watched under the consent given at application until the loan ends."""

    member = models.ForeignKey(
        "members.Institution", verbose_name=_("member"), on_delete=models.PROTECT, related_name="+"
    )
    reference = models.CharField(_("reference"), max_length=64, help_text=_("The member's own loan id."))
    consent_reference = models.CharField(_("consent reference"), max_length=200)
    key_version = models.PositiveIntegerField(_("key version"))
    expires_on = models.DateField(
        _("expires on"), help_text=_("No events after this day; purged 90 days after it by the retention job.")
    )
    identifier_types = ArrayField(models.CharField(max_length=16), verbose_name=_("identifier types"))
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated at"), default=timezone.now)

    class Meta:
        verbose_name = _("watch")
        verbose_name_plural = _("watches")
        constraints = [models.UniqueConstraint(fields=["member", "reference"], name="watch_reference_unique")]
        indexes = [
            models.Index(fields=["member", "id"], name="watch_member_idx"),
            models.Index(fields=["expires_on"], name="watch_expires_idx"),
        ]
        # The per-member count (MemberWatchCount) is kept by the database, whatever deletes or inserts:
        # one statement per write statement (transition tables), not one per row.
        triggers = [
            pgtrigger.Trigger(
                name="watch_count_insert",
                operation=pgtrigger.Insert,
                when=pgtrigger.After,
                level=pgtrigger.Statement,
                referencing=pgtrigger.Referencing(new="inserted"),
                func="""
                    INSERT INTO sharing_memberwatchcount (member_id, watches)
                    SELECT member_id, count(*) FROM inserted GROUP BY member_id
                    ON CONFLICT (member_id) DO UPDATE
                        SET watches = sharing_memberwatchcount.watches + EXCLUDED.watches;
                    RETURN NULL;
                """,
            ),
            pgtrigger.Trigger(
                name="watch_count_delete",
                operation=pgtrigger.Delete,
                when=pgtrigger.After,
                level=pgtrigger.Statement,
                referencing=pgtrigger.Referencing(old="deleted"),
                func="""
                    UPDATE sharing_memberwatchcount c SET watches = c.watches - d.n
                    FROM (SELECT member_id, count(*) AS n FROM deleted GROUP BY member_id) d
                    WHERE c.member_id = d.member_id;
                    RETURN NULL;
                """,
            ),
        ]

    def __str__(self) -> str:
        return f"watch {self.reference}"


class MemberWatchCount(models.Model):
    """How many watches a member holds, for the limit (RISKSHARE_WATCHES_PER_MEMBER) without a count(*).

    Kept by Watch's triggers in the transaction that inserts or deletes them; never written by Python.
    """

    member = models.OneToOneField(
        "members.Institution", verbose_name=_("member"), on_delete=models.PROTECT, primary_key=True, related_name="+"
    )
    watches = models.BigIntegerField(_("watches"), default=0)

    class Meta:
        verbose_name = _("watch count")
        verbose_name_plural = _("watch counts")

    def __str__(self) -> str:
        return f"{self.watches} watches of member {self.member_id}"


class WatchToken(models.Model):
    """One identifier of a watch: its type and the token keyed again with the platform pepper.

    On a Citus cluster sharded by token beside the summaries (docs/design.md, "Distribution (Citus)"), where
    the watches are not: so no database foreign key to the watch (a token-keyed table cannot reference
    another key's). The service writes both in one transaction, and Django deletes a watch's tokens with it.
    """

    pk = models.CompositePrimaryKey("watch_id", "id_type")
    watch = models.ForeignKey(
        Watch, on_delete=models.CASCADE, db_constraint=False, db_index=False, related_name="tokens"
    )
    id_type = models.CharField(_("identifier type"), max_length=16)
    token = models.BinaryField(_("peppered token"), max_length=32)

    class Meta:
        verbose_name = _("watch identifier")
        verbose_name_plural = _("watch identifiers")
        # The matching jobs probe this by equality for every token they recompute.
        indexes = [HashIndex(fields=["token"], name="watch_token_hash")]

    def __str__(self) -> str:
        return f"{self.id_type} of watch {self.watch_id}"


class MonitoringEvent(models.Model):
    """One fact told to one watch. ``fact`` names the fact, so that it is told once (a unique constraint).

    The record behind the event is kept for the later events about it (escalations, its end) and is
    never shown: events never name or count-identify the reporting member.
    """

    class Type(models.TextChoices):
        RECORD_REPORTED = "record.reported", _("A record was reported elsewhere")
        DELINQUENCY_ESCALATED = "delinquency.escalated", _("Overdue days escalated elsewhere")
        INQUIRIES_THRESHOLD = "inquiries.threshold", _("Many other lenders inquired")
        RECORD_ENDED = "record.ended", _("A record behind an earlier event ended")
        DISPUTE_OPENED = "dispute.opened", _("A dispute was opened")
        DISPUTE_SETTLED = "dispute.settled", _("A dispute was settled")
        LOAN_OPENED = "loan.opened", _("Another lender opened a loan")
        EXPOSURE_INCREASED = "exposure.increased", _("Outstanding loans elsewhere increased")
        RELIEF_STARTED = "relief.started", _("Another lender agreed relief with the borrower")
        RELIEF_ENDED = "relief.ended", _("A relief arrangement elsewhere ended")
        IDENTITY_AT_RISK = "identity.at_risk", _("The person registered their identity as at risk")

    member = models.ForeignKey(
        "members.Institution", verbose_name=_("member"), on_delete=models.PROTECT, related_name="+"
    )
    watch = models.ForeignKey(
        Watch, verbose_name=_("watch"), null=True, on_delete=models.SET_NULL, db_index=False, related_name="+"
    )
    watch_reference = models.CharField(_("watch reference"), max_length=64)
    type = models.CharField(_("type"), max_length=32, choices=Type.choices)
    identifier_type = models.CharField(_("identifier type"), max_length=16)
    data = models.JSONField(_("data"), default=dict)
    fact = models.CharField(_("fact"), max_length=80)
    record_id = models.BigIntegerField(_("record"), null=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("monitoring event")
        verbose_name_plural = _("monitoring events")
        constraints = [models.UniqueConstraint(fields=["watch", "fact"], name="monitoring_event_fact_once")]
        indexes = [
            models.Index(fields=["member", "id"], name="monitoring_event_feed_idx"),
            models.Index(fields=["watch", "record_id"], name="monitoring_event_record_idx"),
            # The retention job's scan by age: rows come in time order, and a BRIN index costs inserts nothing.
            BrinIndex(fields=["created_at"], name="monitoring_event_created_brin"),
        ]

    def __str__(self) -> str:
        return f"{self.type} for {self.watch_reference}"


class WebhookEndpoint(models.Model):
    """Where a member receives its events, signed per Standard Webhooks 1.0 with a sealed secret."""

    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        FAILING = "failing", _("Failing")
        DISABLED = "disabled", _("Disabled")

    member = models.ForeignKey(
        "members.Institution", verbose_name=_("member"), on_delete=models.PROTECT, related_name="+"
    )
    url = models.URLField(_("URL"), max_length=2000)
    types = ArrayField(models.CharField(max_length=32), verbose_name=_("event types"), default=list, blank=True)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.ACTIVE)
    secret_sealed = models.BinaryField(_("signing secret (sealed)"), editable=False)
    previous_secret_sealed = models.BinaryField(_("previous secret (sealed)"), null=True, editable=False)
    previous_secret_until = models.DateTimeField(_("previous secret signs until"), null=True, blank=True)
    last_success_at = models.DateTimeField(_("last success"), null=True, blank=True)
    consecutive_failures = models.PositiveIntegerField(_("consecutive failures"), default=0)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    deleted_at = models.DateTimeField(_("deleted at"), null=True, blank=True)

    class Meta:
        verbose_name = _("webhook endpoint")
        verbose_name_plural = _("webhook endpoints")
        indexes = [models.Index(fields=["member", "id"], name="webhook_endpoint_member_idx")]
        permissions = [("replay_webhookendpoint", _("Can replay webhook deliveries"))]

    def __str__(self) -> str:
        return f"endpoint {self.pk} ({self.status})"


class WebhookDelivery(models.Model):
    """One event to one endpoint: the truth of what was sent, retried on the schedule, or dead-lettered."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        SENDING = "sending", _("Sending")
        DELIVERED = "delivered", _("Delivered")
        DEAD = "dead", _("Dead letter")

    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, db_index=False, related_name="deliveries")
    event = models.ForeignKey(MonitoringEvent, null=True, on_delete=models.CASCADE, db_index=False, related_name="+")
    ping = models.JSONField(_("test payload"), null=True, blank=True, help_text=_("Set for a test (ping) delivery."))
    message_id = models.CharField(_("webhook-id"), max_length=64)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt at"), default=timezone.now)
    lease_until = models.DateTimeField(_("lease until"), null=True, blank=True)
    last_status = models.PositiveSmallIntegerField(_("last HTTP status"), null=True, blank=True)
    last_error = models.CharField(_("last error"), max_length=200, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    delivered_at = models.DateTimeField(_("delivered at"), null=True, blank=True)

    class Meta:
        verbose_name = _("webhook delivery")
        verbose_name_plural = _("webhook deliveries")
        constraints = [
            models.UniqueConstraint(
                fields=["event", "endpoint"], name="webhook_delivery_once", condition=models.Q(event__isnull=False)
            )
        ]
        indexes = [
            models.Index(
                fields=["next_attempt_at"], name="webhook_delivery_due_idx", condition=models.Q(status="pending")
            ),
            models.Index(
                fields=["lease_until"], name="webhook_delivery_lease_idx", condition=models.Q(status="sending")
            ),
            models.Index(fields=["endpoint", "status"], name="webhook_delivery_endpoint_idx"),
            BrinIndex(fields=["created_at"], name="webhook_delivery_created_brin"),
        ]

    def __str__(self) -> str:
        return f"delivery {self.message_id} → {self.endpoint_id} ({self.status})"
