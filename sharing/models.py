"""What is shared: consortium key versions (tokens), and later records and lookups."""

from __future__ import annotations

import pghistory
import pgtrigger
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import BrinIndex, HashIndex
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class ConsortiumKey(models.Model):
    """A version of the consortium key. The platform never holds the key itself.

    Members compute tokens with the key; the platform only needs to know which
    versions are current, so it can refuse a submission or lookup that names an
    unknown or retired one.
    """

    class State(models.TextChoices):
        CURRENT = "current", _("Current")
        RETIRED = "retired", _("Retired")

    version = models.PositiveIntegerField(_("key version"), unique=True)
    state = models.CharField(_("state"), max_length=16, choices=State.choices, default=State.CURRENT)
    check_value = models.CharField(
        _("check value"),
        max_length=16,
        help_text=_(
            "First 16 hex of HMAC-SHA256(key, 'riskshare:v1:key-check'): confirms a key file, reveals nothing."
        ),
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    created_by = models.CharField(_("created by"), max_length=200)
    retired_at = models.DateTimeField(_("retired at"), null=True, blank=True)
    retired_by = models.CharField(_("retired by"), max_length=200, blank=True)
    retired_reason = models.TextField(_("retirement reason"), blank=True)

    class Meta:
        verbose_name = _("consortium key version")
        verbose_name_plural = _("consortium key versions")
        ordering = ["-version"]
        permissions = [("retire_consortiumkey", _("Can retire consortium key versions"))]
        constraints = [
            models.CheckConstraint(condition=models.Q(version__gte=1), name="consortium_key_version_positive"),
        ]

    def __str__(self) -> str:
        return f"v{self.version} ({self.get_state_display()})"


class RecordKind(models.TextChoices):
    BLACKLIST = "blacklist", _("Blacklist")
    DELINQUENCY = "delinquency", _("Delinquency")


class RecordCategory(models.TextChoices):
    IDENTITY_FRAUD = "identity_fraud", _("Identity fraud")
    FORGED_DOCUMENTS = "forged_documents", _("Forged documents")
    FRAUD_RING = "fraud_ring", _("Fraud ring")
    MALICIOUS_DEFAULT = "malicious_default", _("Malicious default")
    ACCOUNT_TAKEOVER = "account_takeover", _("Account takeover")
    OVERDUE = "overdue", _("Overdue")
    WRITTEN_OFF = "written_off", _("Written off")


CATEGORIES_BY_KIND: dict[str, frozenset[str]] = {
    RecordKind.BLACKLIST: frozenset(
        {"identity_fraud", "forged_documents", "fraud_ring", "malicious_default", "account_takeover"}
    ),
    RecordKind.DELINQUENCY: frozenset({"overdue", "written_off"}),
}


class RecordStatus(models.TextChoices):
    ACTIVE = "active", _("Active")
    RESOLVED = "resolved", _("Resolved")
    RETRACTED = "retracted", _("Retracted")
    DISPUTED = "disputed", _("Disputed")


class LoanProduct(models.TextChoices):
    CONSUMER_LOAN = "consumer_loan", _("Consumer loan")
    CREDIT_LINE = "credit_line", _("Credit line")
    BNPL = "bnpl", _("Buy now, pay later")
    MORTGAGE = "mortgage", _("Mortgage")
    AUTO_LOAN = "auto_loan", _("Auto loan")
    BUSINESS_LOAN = "business_loan", _("Business loan")
    OTHER = "other", _("Other")


class Batch(models.Model):
    """One accepted submission of records. The row, not the broker, says whether it was matched."""

    class Status(models.TextChoices):
        RECEIVED = "received", _("Received")
        PROCESSING = "processing", _("Processing")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    member = models.ForeignKey(
        "members.Institution", verbose_name=_("member"), on_delete=models.PROTECT, related_name="batches"
    )
    credential = models.ForeignKey(
        "members.Credential", verbose_name=_("credential"), on_delete=models.PROTECT, related_name="+"
    )
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.RECEIVED)
    received = models.PositiveIntegerField(_("received"))
    accepted = models.PositiveIntegerField(_("accepted"))
    rejected = models.PositiveIntegerField(_("rejected"))
    errors = models.JSONField(_("errors"), default=list, help_text=_("Per-record rejections: index, field, code."))
    attempts = models.PositiveSmallIntegerField(_("processing attempts"), default=0)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated at"), default=timezone.now)
    processed_at = models.DateTimeField(_("processed at"), null=True, blank=True)

    class Meta:
        verbose_name = _("batch")
        verbose_name_plural = _("batches")
        ordering = ["-id"]
        indexes = [
            models.Index(
                fields=["status", "updated_at"],
                name="batch_pending_idx",
                condition=models.Q(status__in=["received", "processing"]),
            )
        ]

    def __str__(self) -> str:
        return f"batch {self.pk} ({self.status})"


@pghistory.track(
    pghistory.UpdateEvent(),
    exclude=["reported_at", "batch_id"],
    obj_field=pghistory.ObjForeignKey(db_constraint=False, related_name="events"),
)
class Record(models.Model):
    """A member's report about one person, identified by the member's own reference.

    Hot table: the member and batch references carry no database constraint
    (a foreign key halves COPY/upsert speed here); institutions are never
    deleted and batches are append-only. Row history of updates is kept by a
    trigger (pghistory), inserts are the first version themselves.
    """

    member = models.ForeignKey(
        "members.Institution",
        verbose_name=_("member"),
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,  # the (member, reference) unique index serves
        related_name="+",
    )
    reference = models.CharField(_("reference"), max_length=64)
    kind = models.CharField(_("kind"), max_length=16, choices=RecordKind.choices)
    category = models.CharField(_("category"), max_length=32, choices=RecordCategory.choices)
    status = models.CharField(_("status"), max_length=16, choices=RecordStatus.choices, default=RecordStatus.ACTIVE)
    event_date = models.DateField(_("event date"))
    resolved_date = models.DateField(_("resolved date"), null=True, blank=True)
    overdue_days = models.PositiveIntegerField(_("overdue days"), null=True, blank=True)
    overdue_amount = models.DecimalField(_("overdue amount"), max_digits=14, decimal_places=2, null=True, blank=True)
    currency = models.CharField(_("currency"), max_length=3, blank=True)
    product = models.CharField(_("product"), max_length=16, choices=LoanProduct.choices, blank=True)
    key_version = models.PositiveIntegerField(_("key version"))
    identifiers_digest = models.BinaryField(
        _("identifiers digest"), max_length=32, help_text=_("Digest of the peppered tokens, to skip no-op updates.")
    )
    identifier_types = ArrayField(models.CharField(max_length=16), verbose_name=_("identifier types"))
    retract_reason = models.TextField(_("retraction reason"), blank=True)
    retracted_at = models.DateTimeField(
        _("retracted at"), null=True, blank=True, help_text=_("Retracted records are purged 90 days after this.")
    )
    batch = models.ForeignKey(
        Batch,
        verbose_name=_("last batch"),
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        null=True,
        related_name="+",
        help_text=_("The batch that last changed the record; its matching job finds the record by this index."),
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated at"), default=timezone.now)
    reported_at = models.DateTimeField(_("reported at"), default=timezone.now)

    class Meta:
        verbose_name = _("record")
        verbose_name_plural = _("records")
        constraints = [
            models.UniqueConstraint(fields=["member", "reference"], name="record_reference_unique_per_member"),
            models.CheckConstraint(
                condition=models.Q(resolved_date__isnull=True) | models.Q(resolved_date__gte=models.F("event_date")),
                name="record_resolved_after_event",
            ),
        ]
        indexes = [
            models.Index(fields=["member", "updated_at", "id"], name="record_member_updated_idx"),
            # Self-inspection reports: delinquencies first reported in a period, one member's (timeliness)
            # or every member's (peer comparison, index-only). A (member, created_at) index measured no
            # faster for one member, and this table is the ingest hot path: one index, not two.
            models.Index(
                fields=["created_at"],
                include=["member", "event_date"],
                condition=models.Q(kind="delinquency"),
                name="record_delinquency_created_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.reference} ({self.kind}/{self.category})"


class RecordIdentifier(models.Model):
    """One identifier of a record: its type and the token keyed again with the platform pepper."""

    pk = models.CompositePrimaryKey("record_id", "id_type")
    # The primary key (record_id, id_type) serves lookups by record; no second index.
    record = models.ForeignKey(
        Record, on_delete=models.DO_NOTHING, db_constraint=False, db_index=False, related_name="identifiers"
    )
    id_type = models.CharField(_("identifier type"), max_length=16)
    token = models.BinaryField(_("peppered token"), max_length=32)

    class Meta:
        verbose_name = _("record identifier")
        verbose_name_plural = _("record identifiers")
        # Every read by token is an equality (matching, disputes); a hash index is a third of a B-tree's
        # size on 32-byte tokens, and each batch inserts 20,000 of them at random places.
        indexes = [HashIndex(fields=["token"], name="record_identifier_token_hash")]

    def __str__(self) -> str:
        return f"{self.id_type} of record {self.record_id}"


class TokenSummary(models.Model):
    """What lookups read: one row per peppered token with at least one active record.

    Maintained by the matching jobs (sharing.matching); a periodic full
    recomputation checks it against the records.
    """

    token = models.BinaryField(_("peppered token"), max_length=32, primary_key=True)
    member_ids = ArrayField(models.BigIntegerField(), verbose_name=_("reporting members"))
    blacklist_categories = ArrayField(models.CharField(max_length=32), verbose_name=_("active blacklist categories"))
    blacklist_last_reported = models.DateField(_("blacklist last reported"), null=True)
    active_delinquencies = models.PositiveIntegerField(_("active delinquencies"))
    max_overdue_days = models.PositiveIntegerField(_("maximum overdue days"))
    total_overdue_amount = models.DecimalField(_("total overdue amount"), max_digits=16, decimal_places=2)
    latest_delinquency_date = models.DateField(_("latest delinquency event date"), null=True)
    first_reported = models.DateTimeField(_("first reported"))
    last_reported = models.DateTimeField(_("last reported"))
    disputed = models.BooleanField(_("disputed"), default=False)
    statement = models.BooleanField(
        _("subject statement"), default=False, help_text=_("The subject attached a statement through a dispute.")
    )
    updated_at = models.DateTimeField(_("updated at"))

    class Meta:
        verbose_name = _("token summary")
        verbose_name_plural = _("token summaries")
        indexes = [
            # What lookups probe: ~1.25 pages a token against the primary key's 3 (10,000 tokens
            # in 15 ms instead of 30, measured on 1,000,000 summaries). The key stays for upserts.
            HashIndex(fields=["token"], name="token_summary_token_hash"),
        ]

    def __str__(self) -> str:
        return f"summary {bytes(self.token).hex()[:12]}…"


class DirtyToken(models.Model):
    """A token whose summary must be recomputed: the matching jobs' work queue, in the database."""

    token = models.BinaryField(max_length=32, primary_key=True)
    queued_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"dirty {bytes(self.token).hex()[:12]}…"


class IdempotencyKey(models.Model):
    """A member's Idempotency-Key and the answer it got, kept at least 24 hours (Stripe's contract)."""

    class State(models.TextChoices):
        IN_FLIGHT = "in_flight", _("In flight")
        COMPLETE = "complete", _("Complete")

    member = models.ForeignKey("members.Institution", on_delete=models.PROTECT, related_name="+")
    key = models.CharField(max_length=255)
    request_hash = models.CharField(max_length=64)
    state = models.CharField(max_length=16, choices=State.choices, default=State.IN_FLIGHT)
    response_status = models.PositiveSmallIntegerField(null=True)
    response_body = models.JSONField(null=True)
    created_at = models.DateTimeField(default=timezone.now)
    locked_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["member", "key"], name="idempotency_key_unique_per_member")]
        indexes = [models.Index(fields=["created_at"], name="idempotency_key_created_idx")]

    def __str__(self) -> str:
        return f"{self.key} ({self.state})"


class LookupPurpose(models.TextChoices):
    CREDIT_APPLICATION = "credit_application", _("Credit application")
    ACCOUNT_OPENING = "account_opening", _("Account opening")
    POST_LOAN_MONITORING = "post_loan_monitoring", _("Post-loan monitoring")
    FRAUD_INVESTIGATION = "fraud_investigation", _("Fraud investigation")


# Purposes that need the subject's written consent, and whose lookups are the multi-lending signal.
CONSENT_PURPOSES = frozenset({LookupPurpose.CREDIT_APPLICATION, LookupPurpose.ACCOUNT_OPENING})


class Lookup(models.Model):
    """One lookup request and the answer it got. Append-only: a trigger refuses UPDATE and DELETE.

    Only the retention job deletes, with the trigger bypassed for its own transaction.
    """

    member = models.ForeignKey(
        "members.Institution", verbose_name=_("member"), on_delete=models.PROTECT, related_name="+"
    )
    credential = models.ForeignKey(
        "members.Credential", verbose_name=_("credential"), on_delete=models.PROTECT, related_name="+"
    )
    purpose = models.CharField(_("purpose"), max_length=32, choices=LookupPurpose.choices)
    consent_reference = models.CharField(_("consent reference"), max_length=200, blank=True)
    key_version = models.PositiveIntegerField(_("key version"))
    identifiers = models.PositiveIntegerField(_("identifiers"))
    hits = models.PositiveIntegerField(_("hits"))
    answer = models.BinaryField(
        _("answer"),
        help_text=_("The results exactly as they were answered, sealed: they hold the tokens as the member sent them."),
    )
    created_at = models.DateTimeField(_("time"), default=timezone.now)

    class Meta:
        verbose_name = _("lookup")
        verbose_name_plural = _("lookups")
        indexes = [
            models.Index(fields=["member", "created_at"], name="lookup_member_time_idx"),
            # Rows arrive in time order: a BRIN index finds the expired range for the retention job at no cost.
            BrinIndex(fields=["created_at"], name="lookup_time_brin"),
            # Every member's consent compliance in a period (peer comparison), index-only; the IN list
            # must stay the one sharing.reports.peers.consent_compliance queries with.
            models.Index(
                fields=["created_at"],
                include=["member", "consent_reference"],
                condition=models.Q(purpose__in=["account_opening", "credit_application"]),
                name="lookup_consent_time_idx",
            ),
        ]
        triggers = [pgtrigger.Protect(name="append_only", operation=pgtrigger.Update | pgtrigger.Delete)]

    def __str__(self) -> str:
        return f"lookup {self.pk} ({self.purpose})"


class LookupEntry(models.Model):
    """One identifier of a lookup: the log that inquiry counts, disputes and reports read."""

    pk = models.CompositePrimaryKey("lookup_id", "position")
    lookup = models.ForeignKey(
        Lookup, on_delete=models.DO_NOTHING, db_constraint=False, db_index=False, related_name="entries"
    )
    position = models.PositiveIntegerField(_("position"))
    member_id = models.BigIntegerField(_("member"))
    token = models.BinaryField(_("peppered token"), max_length=32)
    hit = models.BooleanField(_("hit"))
    multi_lending = models.BooleanField(
        _("credit purpose"), help_text=_("The purpose was credit_application or account_opening.")
    )
    created_at = models.DateTimeField(_("time"))

    class Meta:
        verbose_name = _("lookup entry")
        verbose_name_plural = _("lookup entries")
        indexes = [
            # Whose answers relied on a token's records (corrections' alerts), whatever the purpose: hits
            # only, since a miss relied on no record, so that a 10,000-identifier lookup at 10 % hits adds
            # 1,000 entries to this index, not 10,000 (its log wait: ~13 ms less). A hash index: entries
            # land at random places, and it is a third of a B-tree's size on these 32-byte tokens.
            HashIndex(fields=["token"], condition=models.Q(hit=True), name="lookup_entry_hit_token_hash"),
            # The multi-lending signal reads credit lookups only: most entries (monitoring batches)
            # stay out of this index, so a 10,000-token lookup probes a small one.
            models.Index(
                fields=["token", "created_at"],
                include=["member_id"],
                condition=models.Q(multi_lending=True),
                name="lookup_entry_credit_idx",
            ),
        ]
        triggers = [pgtrigger.Protect(name="append_only", operation=pgtrigger.Update | pgtrigger.Delete)]

    def __str__(self) -> str:
        return f"entry {self.position} of lookup {self.lookup_id}"


class LookupQuota(models.Model):
    """A member's lookup limits, when they differ from the platform defaults (set by operators)."""

    member = models.OneToOneField(
        "members.Institution", verbose_name=_("member"), on_delete=models.PROTECT, related_name="lookup_quota"
    )
    requests_per_minute = models.PositiveIntegerField(
        _("requests per minute"), help_text=_("Per credential; lookups beyond it get 429.")
    )
    identifiers_per_day = models.PositiveIntegerField(
        _("identifiers per day"), help_text=_("Per credential, per calendar day (UTC).")
    )
    updated_at = models.DateTimeField(_("updated at"), default=timezone.now)
    updated_by = models.CharField(_("updated by"), max_length=200)

    class Meta:
        verbose_name = _("lookup quota")
        verbose_name_plural = _("lookup quotas")

    def __str__(self) -> str:
        return f"{self.member}: {self.requests_per_minute}/min, {self.identifiers_per_day}/day"


class QuotaUsage(models.Model):
    """Fixed-window counters of the lookup limits, incremented atomically in PostgreSQL."""

    class Window(models.TextChoices):
        MINUTE = "minute", _("Requests in a minute")
        DAY = "day", _("Identifiers in a day")

    pk = models.CompositePrimaryKey("credential_id", "window", "window_start")
    credential_id = models.BigIntegerField()
    window = models.CharField(max_length=8, choices=Window.choices)
    window_start = models.DateTimeField()
    used = models.PositiveIntegerField()

    class Meta:
        indexes = [models.Index(fields=["window_start"], name="quota_usage_window_idx")]

    def __str__(self) -> str:
        return f"{self.credential_id} {self.window} {self.window_start}: {self.used}"


class MemberFlag(models.Model):
    """Something operators should look at, raised automatically (e.g. lookups that look like enumeration)."""

    class Kind(models.TextChoices):
        ENUMERATION = "enumeration", _("Possible enumeration")

    member = models.ForeignKey(
        "members.Institution", verbose_name=_("member"), on_delete=models.PROTECT, related_name="+"
    )
    kind = models.CharField(_("kind"), max_length=32, choices=Kind.choices)
    day = models.DateField(_("day"))
    detail = models.JSONField(_("detail"), default=dict)
    created_at = models.DateTimeField(_("raised at"), default=timezone.now)

    class Meta:
        verbose_name = _("member flag")
        verbose_name_plural = _("member flags")
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["member", "kind", "day"], name="member_flag_once_a_day")]

    def __str__(self) -> str:
        return f"{self.member}: {self.kind} ({self.day})"


class Dispute(models.Model):
    """A data subject's objection, filed through a member: the records it covers are marked disputed at once.

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
        on_delete=models.PROTECT,
        related_name="+",
        help_text=_("The member that filed the dispute on the subject's behalf."),
    )
    credential = models.ForeignKey(
        "members.Credential", verbose_name=_("credential"), on_delete=models.PROTECT, related_name="+"
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
                condition=models.Q(status="open", settled_at__isnull=True)
                | (~models.Q(status="open") & models.Q(settled_at__isnull=False)),
                name="dispute_settled_when_closed",
            )
        ]

    def __str__(self) -> str:
        return f"dispute {self.pk} ({self.status})"


class DisputeToken(models.Model):
    """One identifier of the disputing subject, peppered like every stored token."""

    pk = models.CompositePrimaryKey("dispute_id", "id_type")
    dispute = models.ForeignKey(Dispute, on_delete=models.CASCADE, db_index=False, related_name="tokens")
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
        return f"{self.id_type} of dispute {self.dispute_id}"


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
        return f"record {self.record_id} in dispute {self.dispute_id}"


class Alert(models.Model):
    """A notice to a member, read through the API. Never names the member that reported."""

    class Kind(models.TextChoices):
        DISPUTE_FILED = "dispute_filed", _("A dispute was filed against your records")
        DISPUTE_RESOLVED = "dispute_resolved", _("A dispute you filed was settled")
        RECORD_CORRECTED = "record_corrected", _("Data your lookups relied on was corrected")

    member = models.ForeignKey(
        "members.Institution", verbose_name=_("member"), on_delete=models.PROTECT, related_name="+"
    )
    kind = models.CharField(_("kind"), max_length=32, choices=Kind.choices)
    payload = models.JSONField(_("detail"), default=dict)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    acknowledged_at = models.DateTimeField(_("acknowledged at"), null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        "members.Credential",
        verbose_name=_("acknowledged by"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )

    class Meta:
        verbose_name = _("alert")
        verbose_name_plural = _("alerts")
        ordering = ["-id"]
        indexes = [models.Index(fields=["member", "-id"], name="alert_member_idx")]

    def __str__(self) -> str:
        return f"{self.kind} for {self.member_id}"


class QuotaRefusal(models.Model):
    """How many lookup requests of a credential were refused (429) on a day: what self-inspection reports count.

    One upsert per refusal, committed on its own (the refused request's work is rolled back). The day is the
    business day in China, so a report period of Asia/Shanghai dates adds up whole rows.
    """

    pk = models.CompositePrimaryKey("credential_id", "day", "window")
    credential_id = models.BigIntegerField(_("credential"))
    member_id = models.BigIntegerField(_("member"))
    day = models.DateField(_("day"))
    window = models.CharField(_("limit"), max_length=8, choices=QuotaUsage.Window.choices)
    refused = models.PositiveIntegerField(_("refused requests"))

    class Meta:
        verbose_name = _("lookup quota refusal")
        verbose_name_plural = _("lookup quota refusals")
        indexes = [models.Index(fields=["member_id", "day"], name="quota_refusal_member_day_idx")]

    def __str__(self) -> str:
        return f"{self.credential_id} {self.day} {self.window}: {self.refused}"


class Report(models.Model):
    """A member's self-inspection report for one period: the signed ZIP itself, one per (member, period).

    The file lives in this row: a few tens of kilobytes, written in the same transaction as its audit
    event, backed up with the database, and readable by every stateless web process without shared storage.
    """

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        READY = "ready", _("Ready")

    member = models.ForeignKey(
        "members.Institution", verbose_name=_("member"), on_delete=models.PROTECT, related_name="+"
    )
    period_start = models.DateField(_("period start"), help_text=_("First day of the period (Asia/Shanghai)."))
    period_end = models.DateField(_("period end"), help_text=_("Day after the last day of the period."))
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.PENDING)
    content = models.BinaryField(
        _("file"), default=b"", editable=False, help_text=_("The report ZIP, exactly as downloaded.")
    )
    sha256 = models.CharField(_("SHA-256"), max_length=64, blank=True, help_text=_("Of the ZIP file."))
    size = models.PositiveIntegerField(_("size (bytes)"), default=0)
    summary = models.JSONField(_("summary"), default=dict, help_text=_("summary.json of the report."))
    requested_at = models.DateTimeField(_("requested at"), default=timezone.now)
    generated_at = models.DateTimeField(_("generated at"), null=True, blank=True)
    generated_by = models.CharField(_("generated by"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("self-inspection report")
        verbose_name_plural = _("self-inspection reports")
        ordering = ["-period_start", "member_id"]
        permissions = [("generate_report", _("Can generate self-inspection reports"))]
        constraints = [
            models.UniqueConstraint(fields=["member", "period_start", "period_end"], name="report_once_per_period"),
            models.CheckConstraint(
                condition=models.Q(period_start__lt=models.F("period_end")), name="report_period_not_empty"
            ),
        ]
        indexes = [
            models.Index(fields=["requested_at"], name="report_pending_idx", condition=models.Q(status="pending"))
        ]

    def __str__(self) -> str:
        return f"{self.member_id} {self.period_start}–{self.period_end}"

    @property
    def filename(self) -> str:
        return f"riskshare-report-{self.member_id}-{self.period_start:%Y%m%d}-{self.period_end:%Y%m%d}.zip"
