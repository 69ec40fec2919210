"""Who takes part: member institutions, their API credentials, and the audit trail."""

from __future__ import annotations

import pghistory
import pgtrigger
from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from members.validators import validate_uscc


@pghistory.track()
class Institution(models.Model):
    """A member institution (or an applicant to become one)."""

    class Kind(models.TextChoices):
        BANK = "bank", _("Bank")
        CONSUMER_FINANCE = "consumer_finance", _("Consumer finance company")
        ONLINE_LENDER = "online_lender", _("Online lender")
        MICROLENDER = "microlender", _("Microlender")
        GUARANTOR = "guarantor", _("Guarantor")
        PARTNER = "partner", _("Third-party partner")

    class Status(models.TextChoices):
        APPLICANT = "applicant", _("Applicant")
        UNDER_REVIEW = "under_review", _("Under review")
        ACTIVE = "active", _("Active")
        SUSPENDED = "suspended", _("Suspended")
        WITHDRAWN = "withdrawn", _("Withdrawn")

    name = models.CharField(_("name"), max_length=200)
    uscc = models.CharField(
        _("unified social credit code"),
        max_length=18,
        unique=True,
        validators=[validate_uscc],
        help_text=_("18-character code under GB 32100-2015; identifies the institution."),
    )
    kind = models.CharField(pgettext_lazy("institution", "kind"), max_length=32, choices=Kind.choices)
    contact_name = models.CharField(_("contact name"), max_length=100, blank=True)
    contact_email = models.EmailField(_("contact e-mail"), blank=True)
    contact_phone = models.CharField(_("contact phone"), max_length=32, blank=True)
    licence_number = models.CharField(
        _("licence number"), max_length=100, blank=True, help_text=_("Business licence checked at review.")
    )
    licence_expiry = models.DateField(_("licence expiry"), null=True, blank=True)
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.APPLICANT, db_index=True
    )
    status_changed_at = models.DateTimeField(_("status changed at"), default=timezone.now)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("reviewer"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text=_("The operator who last activated the institution after qualification review."),
    )
    reviewed_at = models.DateTimeField(_("reviewed at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("institution")
        verbose_name_plural = _("institutions")
        ordering = ["name"]
        permissions = [("review_institution", _("Can move institutions through their lifecycle"))]

    def __str__(self) -> str:
        return f"{self.name} ({self.uscc})"

    # The authenticated "user" of an API request is the member institution.
    is_authenticated = True
    is_anonymous = False


class InstitutionTransition(models.Model):
    """One move of an institution through its lifecycle: who, when, why."""

    institution = models.ForeignKey(
        Institution, verbose_name=_("institution"), on_delete=models.PROTECT, related_name="transitions"
    )
    from_status = models.CharField(_("from"), max_length=16, choices=Institution.Status.choices)
    to_status = models.CharField(_("to"), max_length=16, choices=Institution.Status.choices)
    reason = models.TextField(_("reason"))
    actor_label = models.CharField(_("by"), max_length=200)
    created_at = models.DateTimeField(_("at"), default=timezone.now)

    class Meta:
        verbose_name = _("status transition")
        verbose_name_plural = _("status transitions")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.get_from_status_display()} → {self.get_to_status_display()}"


@pghistory.track(exclude=["last_used_at"])
class Credential(models.Model):
    """An API key of a member institution. Only a digest of the key is stored."""

    class Scope(models.TextChoices):
        RECORDS_WRITE = "records:write", _("Submit records")
        LOOKUPS = "lookups", _("Look up subjects")
        REPORTS_READ = "reports:read", _("Read self-inspection reports")
        DISPUTES = "disputes", _("File disputes for data subjects")
        MONITORING = "monitoring", _("Watch own borrowers after lending")
        PARTNERS = "partners", _("Register third-party partners and flag them")
        POLICIES = "policies", _("Publish the risk-policy card")

    institution = models.ForeignKey(
        Institution, verbose_name=_("institution"), on_delete=models.PROTECT, related_name="credentials"
    )
    name = models.CharField(_("name"), max_length=100, help_text=_("What the key is for, e.g. 'loan origination'."))
    prefix = models.CharField(
        _("prefix"), max_length=16, unique=True, editable=False, help_text=_("Visible start of the key.")
    )
    digest = models.CharField(_("digest"), max_length=64, unique=True, editable=False)
    scopes = ArrayField(models.CharField(max_length=16, choices=Scope.choices), verbose_name=_("scopes"))
    allowed_ips = ArrayField(
        models.CharField(max_length=43),
        verbose_name=_("allowed networks"),
        default=list,
        blank=True,
        help_text=_("CIDR networks the key may be used from; empty means any address."),
    )
    expires_at = models.DateTimeField(_("expires at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    created_by = models.CharField(_("issued by"), max_length=200)
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)
    revoked_reason = models.TextField(_("revocation reason"), blank=True)
    revoked_by = models.CharField(_("revoked by"), max_length=200, blank=True)
    last_used_at = models.DateTimeField(_("last used at"), null=True, blank=True)

    class Meta:
        verbose_name = _("credential")
        verbose_name_plural = _("credentials")
        ordering = ["-created_at"]
        permissions = [
            ("issue_credential", _("Can issue credentials")),
            ("revoke_credential", _("Can revoke credentials")),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(
                    scopes__contained_by=[
                        "records:write",
                        "lookups",
                        "reports:read",
                        "disputes",
                        "monitoring",
                        "partners",
                        "policies",
                    ]
                )
                & ~models.Q(scopes=[]),
                name="credential_scopes_known",
            ),
            models.CheckConstraint(
                condition=models.Q(revoked_at__isnull=True) | ~models.Q(revoked_reason=""),
                name="credential_revocation_has_reason",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.name})"

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    def is_expired(self, now=None) -> bool:
        return self.expires_at is not None and self.expires_at <= (now or timezone.now())


class AuditEvent(models.Model):
    """One append-only, hash-chained event of the audit trail.

    Written unchained (``seq``, ``prev_hash`` and ``hash`` empty) in the transaction of what it records, with
    no lock shared by other writers; the sequencer (``members.audit.audit_chain_sequence``) then gives it its
    place: ``hash`` is SHA-256 over a canonical serialization of the event and the previous event's hash.
    Database triggers refuse DELETE, and any UPDATE except that one filling of an unchained event's three
    chain columns, so that the application cannot rewrite history; the chain makes any change made around
    the triggers detectable.

    Partitioned by month of ``occurred_at`` (``core.partitions``): in the database the primary key is
    (id, occurred_at) and ``seq`` is indexed per month, unique by construction (one sequencer) and checked by
    verification; Django keeps ``id`` as the key (the admin's URLs).
    """

    class ActorType(models.TextChoices):
        OPERATOR = "operator", _("Operator")
        CREDENTIAL = "credential", _("API credential")
        SYSTEM = "system", _("System")

    seq = models.BigIntegerField(_("sequence"), null=True, db_index=True, editable=False)
    occurred_at = models.DateTimeField(_("time"), editable=False)
    actor_type = models.CharField(_("actor type"), max_length=16, choices=ActorType.choices, editable=False)
    actor_id = models.CharField(_("actor id"), max_length=64, blank=True, editable=False)
    actor_label = models.CharField(_("actor"), max_length=200, editable=False)
    action = models.CharField(_("action"), max_length=64, db_index=True, editable=False)
    object_type = models.CharField(_("object type"), max_length=64, blank=True, editable=False)
    object_id = models.CharField(_("object id"), max_length=64, blank=True, editable=False)
    object_repr = models.CharField(_("object"), max_length=200, blank=True, editable=False)
    payload = models.JSONField(_("payload"), default=dict, editable=False)
    institution = models.ForeignKey(
        Institution,
        verbose_name=_("institution"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        db_constraint=False,
        related_name="+",
        editable=False,
        help_text=_("The member the event concerns (hashed with the event when set)."),
    )
    # NULL, not "": an unchained event has no place yet (the sequencer's queue is "hash IS NULL").
    prev_hash = models.CharField(_("previous hash"), max_length=64, null=True, editable=False)  # noqa: DJ001
    hash = models.CharField(_("hash"), max_length=64, null=True, editable=False)  # noqa: DJ001

    class Meta:
        verbose_name = _("audit event")
        verbose_name_plural = _("audit events")
        ordering = ["-seq"]
        indexes = [
            models.Index(fields=["object_type", "object_id"], name="audit_object_idx"),
            models.Index(fields=["institution", "seq"], name="audit_institution_idx"),
            # The sequencer's queue: only unchained events, so it stays as small as the backlog.
            models.Index(fields=["id"], condition=models.Q(hash__isnull=True), name="audit_unchained_idx"),
        ]
        triggers = [
            # The sequencer fills an unchained event's place in the chain once; nothing else changes.
            pgtrigger.Protect(
                name="append_only",
                operation=pgtrigger.Update,
                condition=pgtrigger.Condition(
                    "OLD.hash IS NOT NULL OR (OLD.id, OLD.occurred_at, OLD.actor_type, OLD.actor_id, OLD.actor_label,"
                    " OLD.action, OLD.object_type, OLD.object_id, OLD.object_repr, OLD.payload, OLD.institution_id)"
                    " IS DISTINCT FROM (NEW.id, NEW.occurred_at, NEW.actor_type, NEW.actor_id, NEW.actor_label,"
                    " NEW.action, NEW.object_type, NEW.object_id, NEW.object_repr, NEW.payload, NEW.institution_id)"
                ),
            ),
            pgtrigger.Protect(name="append_only_delete", operation=pgtrigger.Delete),
            # After a restore to an earlier point the chain must not grow from an older head than the one
            # recorded outside the database (members.history): every append fails until an operator
            # reconciles. SQLSTATE RSH01 is answered 503 history_held (core.outage).
            pgtrigger.Trigger(
                name="held_after_restore",
                operation=pgtrigger.Insert,
                when=pgtrigger.Before,
                level=pgtrigger.Statement,
                func=(
                    "IF EXISTS (SELECT 1 FROM members_historyhold WHERE kind = 'audit_chain' "
                    "AND released_at IS NULL) THEN RAISE EXCEPTION 'riskshare: the audit chain is held after "
                    "a restore: run manage.py history_check (docs/operations.md)' USING ERRCODE = 'RSH01'; "
                    "END IF; RETURN NULL;"
                ),
            ),
        ]

    def __str__(self) -> str:
        from members.audit import audit_action_label

        if self.seq is None:
            return audit_action_label(self.action)
        return f"#{self.seq} {audit_action_label(self.action)}"


class AuditCheckpoint(models.Model):
    """A verified head of the audit chain: every event up to ``seq`` was found intact, ending in ``hash``.

    The nightly verification starts from the latest one and walks only what was chained since; a full walk
    (``audit_verify --full``) starts from the genesis. Each is also announced by an ``audit.verified`` event in
    the chain itself, so a checkpoint edited to cover a rewrite disagrees with the chain's own record of it.
    """

    seq = models.BigIntegerField(_("sequence"), help_text=_("The last event verified."))
    hash = models.CharField(_("hash"), max_length=64, help_text=_("The hash of that event."))
    from_seq = models.BigIntegerField(_("from sequence"), help_text=_("The first event this verification walked."))
    checked = models.BigIntegerField(_("events checked"))
    full = models.BooleanField(_("full walk"), default=False)
    verified_at = models.DateTimeField(_("verified at"), default=timezone.now)

    class Meta:
        verbose_name = _("audit checkpoint")
        verbose_name_plural = _("audit checkpoints")
        ordering = ["-seq"]

    def __str__(self) -> str:
        return f"#{self.seq} {self.hash[:12]}…"


class AdminFormUse(models.Model):
    """A single-use admin form that was submitted: the form's nonce is the primary key.

    The nonce is claimed in the transaction that does the form's work, so a resubmitted form (a reload
    of the answer page, a double click) conflicts on the key and does nothing; concurrent submissions
    of one form wait on each other's insert instead of both passing a check.
    """

    nonce = models.CharField(_("nonce"), max_length=32, primary_key=True)
    purpose = models.CharField(_("form"), max_length=64)
    user_id = models.BigIntegerField(_("operator"))
    used_at = models.DateTimeField(_("used at"), default=timezone.now)
    object_type = models.CharField(_("object type"), max_length=64, blank=True)
    object_id = models.CharField(_("object id"), max_length=64, blank=True)
    object_repr = models.CharField(_("object"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("used admin form")
        verbose_name_plural = _("used admin forms")

    def __str__(self) -> str:
        return self.object_repr or self.purpose


class HistoryHold(models.Model):
    """A published history found not to continue its head recorded outside the database (members.history).

    While a hold of a kind is open, that history does not grow: the audit chain refuses appends (a database
    trigger), the verifiable log signs no checkpoint. An operator releases it (``manage.py history_reconcile``).
    """

    class Kind(models.TextChoices):
        AUDIT_CHAIN = "audit_chain", _("audit chain")
        VERIFIABLE_LOG = "verifiable_log", _("verifiable log")

    kind = models.CharField(_("history"), max_length=16, choices=Kind.choices)
    detected_at = models.DateTimeField(_("detected at"), default=timezone.now)
    recorded = models.JSONField(_("recorded head"), help_text=_("The head kept outside the database."))
    found = models.JSONField(_("found in the database"), help_text=_("What the database held instead."))
    released_at = models.DateTimeField(_("released at"), null=True, blank=True)
    released_by = models.CharField(_("released by"), max_length=200, blank=True)
    release_reason = models.TextField(_("reason for release"), blank=True)

    class Meta:
        verbose_name = _("history hold")
        verbose_name_plural = _("history holds")
        constraints = [
            models.UniqueConstraint(
                fields=["kind"], condition=models.Q(released_at__isnull=True), name="one_open_hold_per_history"
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} ({self.detected_at:%Y-%m-%d %H:%M})"
