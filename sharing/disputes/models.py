"""Disputes of data subjects, the records they mark, and alerts to members."""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from sharing.records.models import Record


class Dispute(models.Model):
    """A data subject's objection, filed through a member or by the platform at the desk (from the person's own
    report): the records it covers are marked disputed at once.

    Operators settle it within the statutory period (``due_date``) in the admin.
    """

    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        CORRECTED = "corrected", _("Corrected")
        CONFIRMED = "confirmed", _("Confirmed")
        UNVERIFIABLE = "unverifiable", _("Unverifiable")

    member = models.ForeignKey(
        "members.Institution",
        verbose_name=_("filing member"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text=_(
            "The member that filed the dispute on the subject's behalf; empty when the platform filed it at the desk."
        ),
    )
    credential = models.ForeignKey(
        "members.Credential",
        verbose_name=_("credential"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    filed_by = models.CharField(
        _("filed at the desk by"),
        max_length=200,
        blank=True,
        help_text=_("The operator who filed it for the person from their own report (本人查询)."),
    )
    record = models.ForeignKey(
        Record,
        verbose_name=_("named record"),
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
        help_text=_("The one record the dispute names, if it names one; emptied when the record is purged."),
    )
    reason = models.TextField(_("reason"))
    statement = models.TextField(
        _("subject statement"), blank=True, help_text=_("The subject's own statement (本人声明), shown with lookups.")
    )
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.OPEN)
    received_at = models.DateTimeField(_("received at"), default=timezone.now)
    due_date = models.DateField(_("due date"), help_text=_("Settle by this day: 20 calendar days after receipt."))
    records_disputed = models.PositiveIntegerField(_("records disputed"))
    settled_at = models.DateTimeField(_("settled at"), null=True, blank=True)
    settled_by = models.CharField(_("settled by"), max_length=200, blank=True)
    settlement_note = models.TextField(_("settlement note"), blank=True)
    due_soon_raised_at = models.DateTimeField(_("due-soon notice raised at"), null=True, blank=True)
    overdue_raised_at = models.DateTimeField(_("overdue notice raised at"), null=True, blank=True)

    class Meta:
        verbose_name = _("dispute")
        verbose_name_plural = _("disputes")
        ordering = ["due_date", "id"]
        permissions = [("settle_dispute", _("Can settle disputes"))]
        indexes = [
            models.Index(fields=["member", "id"], name="dispute_member_idx"),
            models.Index(fields=["due_date"], name="dispute_open_due_idx", condition=models.Q(status="open")),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(member__isnull=False, credential__isnull=False, filed_by="")
                | (models.Q(member__isnull=True, credential__isnull=True) & ~models.Q(filed_by="")),
                name="dispute_filed_by_member_or_desk",
            ),
            models.CheckConstraint(
                condition=models.Q(status="open", settled_at__isnull=True)
                | (~models.Q(status="open") & models.Q(settled_at__isnull=False)),
                name="dispute_settled_when_closed",
            ),
        ]

    def __str__(self) -> str:
        return gettext("dispute %(id)s (%(status)s)") % {"id": self.pk, "status": self.get_status_display()}


class DisputeToken(models.Model):
    """One identifier of the disputing subject, peppered like every stored token.

    On a Citus cluster sharded by token beside the summaries (docs/design.md, "Distribution (Citus)"), where
    the disputes are not: so no database foreign key to the dispute (a token-keyed table cannot reference
    another key's). The service writes both in one transaction, and Django deletes a dispute's tokens with it.
    """

    pk = models.CompositePrimaryKey("dispute_id", "id_type")
    dispute = models.ForeignKey(
        Dispute, on_delete=models.CASCADE, db_constraint=False, db_index=False, related_name="tokens"
    )
    id_type = models.CharField(_("identifier type"), max_length=16)
    token = models.BinaryField(_("peppered token"), max_length=32)
    statement = models.BooleanField(
        _("with statement"), default=False, help_text=_("The dispute carries a subject statement (copied for lookups).")
    )

    class Meta:
        verbose_name = _("dispute identifier")
        verbose_name_plural = _("dispute identifiers")
        indexes = [models.Index(fields=["token"], name="dispute_token_idx")]

    def __str__(self) -> str:
        return gettext("%(type)s of dispute %(dispute)s") % {"type": self.id_type, "dispute": self.dispute_id}


class DisputedRecord(models.Model):
    """A record a dispute covers. The record's own status says whether the mark is on."""

    pk = models.CompositePrimaryKey("dispute_id", "record_id")
    dispute = models.ForeignKey(Dispute, on_delete=models.CASCADE, db_index=False, related_name="records")
    record = models.ForeignKey(
        Record, verbose_name=_("record"), on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    reporting_member_id = models.BigIntegerField(_("reporting member"))

    class Meta:
        verbose_name = _("disputed record")
        verbose_name_plural = _("disputed records")
        indexes = [models.Index(fields=["record"], name="disputed_record_idx")]

    def __str__(self) -> str:
        return gettext("record %(record)s in dispute %(dispute)s") % {
            "record": self.record_id,
            "dispute": self.dispute_id,
        }
