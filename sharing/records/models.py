"""Records, the batches that bring them, their identifiers and the per-token summaries lookups read."""

from __future__ import annotations

import pghistory
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import HashIndex
from django.db import models
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext, pgettext_lazy
from django.utils.translation import gettext_lazy as _

from sharing.common.relief import ReliefKind
from sharing.tlog.models import log_salt_field


class RecordKind(models.TextChoices):
    BLACKLIST = "blacklist", _("Blacklist")
    DELINQUENCY = "delinquency", _("Delinquency")
    LOAN = "loan", _("Open loan")


class RecordCategory(models.TextChoices):
    IDENTITY_FRAUD = "identity_fraud", _("Identity fraud")
    FORGED_DOCUMENTS = "forged_documents", _("Forged documents")
    FRAUD_RING = "fraud_ring", _("Fraud ring")
    MALICIOUS_DEFAULT = "malicious_default", _("Malicious default")
    ACCOUNT_TAKEOVER = "account_takeover", _("Account takeover")
    OVERDUE = "overdue", _("Overdue")
    WRITTEN_OFF = "written_off", _("Written off")
    OPEN = "open", _("Open credit facility")


CATEGORIES_BY_KIND: dict[str, frozenset[str]] = {
    RecordKind.BLACKLIST: frozenset(
        {"identity_fraud", "forged_documents", "fraud_ring", "malicious_default", "account_takeover"}
    ),
    RecordKind.DELINQUENCY: frozenset({"overdue", "written_off"}),
    # Not adverse: an open credit facility (共债, exposure), re-sent at least monthly with its balance.
    RecordKind.LOAN: frozenset({"open"}),
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


def relief_running() -> models.Q:
    """Records with a relief arrangement that still runs: no relief_end, the record neither resolved nor retracted."""
    return (
        ~models.Q(relief="")
        & models.Q(relief_end__isnull=True, resolved_date__isnull=True)
        & models.Q(status__in=[RecordStatus.ACTIVE, RecordStatus.DISPUTED])
    )


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
    enqueue_failed = models.BooleanField(
        _("enqueue failed"),
        default=False,
        help_text=_("Its matching job could not be sent (broker down): the next sweep sends it, without waiting."),
    )
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
        return gettext("batch %(id)s (%(status)s)") % {"id": self.pk, "status": self.get_status_display()}


@pghistory.track(
    pghistory.UpdateEvent(),
    exclude=["reported_at", "batch_id", "log_salt"],
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
    kind = models.CharField(pgettext_lazy("record", "kind"), max_length=16, choices=RecordKind.choices)
    category = models.CharField(_("category"), max_length=32, choices=RecordCategory.choices)
    status = models.CharField(_("status"), max_length=16, choices=RecordStatus.choices, default=RecordStatus.ACTIVE)
    event_date = models.DateField(_("event date"))
    resolved_date = models.DateField(_("resolved date"), null=True, blank=True)
    overdue_days = models.PositiveIntegerField(_("overdue days"), null=True, blank=True)
    overdue_amount = models.DecimalField(_("overdue amount"), max_digits=14, decimal_places=2, null=True, blank=True)
    currency = models.CharField(_("currency"), max_length=3, blank=True)
    product = models.CharField(_("product"), max_length=16, choices=LoanProduct.choices, blank=True)
    credit_limit = models.DecimalField(
        _("credit limit"), max_digits=14, decimal_places=2, null=True, blank=True, help_text=_("Loans only, CNY.")
    )
    outstanding_balance = models.DecimalField(
        _("outstanding balance"),
        max_digits=14,
        decimal_places=2,
        null=True,
        blank=True,
        help_text=_("Loans only, CNY, as of the latest report; may exceed the limit."),
    )
    maturity_date = models.DateField(_("maturity date"), null=True, blank=True, help_text=_("Loans only, optional."))
    relief = models.CharField(
        _("relief"),
        max_length=16,
        choices=ReliefKind.choices,
        blank=True,
        default="",
        db_default="",  # raw inserts that predate relief (benchmarks, fixtures) keep working
        help_text=_("Relief agreed with the borrower (loans and delinquencies only); empty when none."),
    )
    relief_start = models.DateField(_("relief start"), null=True, blank=True)
    relief_end = models.DateField(
        _("relief end"), null=True, blank=True, help_text=_("The arrangement ended on this day; empty while it runs.")
    )
    new_maturity_date = models.DateField(
        _("new maturity date"), null=True, blank=True, help_text=_("An extension's new maturity date.")
    )
    origination_partner = models.CharField(
        _("origination partner"),
        max_length=18,
        blank=True,
        default="",
        help_text=_("USCC of the origination platform the loan came through; empty when none was named."),
    )
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
    # The upsert sends no value; a purge deletes it with the row.
    log_salt = log_salt_field(help_text=_("Keys this record's digests in the verifiable log; deleted with the record."))

    class Meta:
        verbose_name = _("record")
        verbose_name_plural = _("records")
        constraints = [
            models.UniqueConstraint(fields=["member", "reference"], name="record_reference_unique_per_member"),
            models.CheckConstraint(
                condition=models.Q(resolved_date__isnull=True) | models.Q(resolved_date__gte=models.F("event_date")),
                name="record_resolved_after_event",
            ),
            models.CheckConstraint(
                condition=models.Q(maturity_date__isnull=True) | models.Q(maturity_date__gte=models.F("event_date")),
                name="record_matures_after_event",
            ),
            models.CheckConstraint(
                condition=models.Q(
                    relief="", relief_start__isnull=True, relief_end__isnull=True, new_maturity_date__isnull=True
                )
                | (
                    ~models.Q(relief="")
                    & models.Q(relief_start__isnull=False, relief_start__gte=models.F("event_date"))
                    & (models.Q(relief_end__isnull=True) | models.Q(relief_end__gte=models.F("relief_start")))
                ),
                name="record_relief_dates_in_order",
            ),
        ]
        indexes = [
            models.Index(fields=["member", "updated_at", "id"], name="record_member_updated_idx"),
            # A partner's profile counts the records that name it as their origination platform.
            models.Index(
                fields=["origination_partner", "kind"],
                name="record_origination_idx",
                condition=~models.Q(origination_partner=""),
            ),
            # Self-inspection reports: delinquencies first reported in a period, one member's (timeliness)
            # or every member's (peer comparison, index-only). A (member, created_at) index measured no
            # faster for one member, and this table is the ingest hot path: one index, not two.
            models.Index(
                fields=["created_at"],
                include=["member", "event_date"],
                condition=models.Q(kind="delinquency"),
                name="record_delinquency_created_idx",
            ),
            # The operators' dashboard counts the relief arrangements running, by kind (index-only).
            models.Index(
                fields=["relief", "status"],
                condition=~models.Q(relief="") & models.Q(relief_end__isnull=True, resolved_date__isnull=True),
                name="record_relief_running_idx",
            ),
            # The retention purge's condition (sharing.retention.selectors.RECORD_DUE_CONDITION), one index per
            # arm of its OR, so that the daily purge reads what is due instead of the whole table.
            models.Index(
                fields=["retracted_at"], condition=models.Q(status="retracted"), name="record_retracted_purge_idx"
            ),
            models.Index(
                Coalesce("resolved_date", "event_date"),
                condition=~models.Q(status="retracted")
                & (models.Q(resolved_date__isnull=False) | models.Q(kind="blacklist")),
                name="record_ended_purge_idx",
            ),
        ]

    def __str__(self) -> str:
        return gettext("%(reference)s (%(kind)s/%(category)s)") % {
            "reference": self.reference,
            "kind": self.get_kind_display(),
            "category": self.get_category_display(),
        }


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
        return gettext("%(type)s of record %(record)s") % {"type": self.id_type, "record": self.record_id}


class TokenSummary(models.Model):
    """What lookups read: one row per peppered token with at least one active record.

    Maintained by the matching jobs (sharing.records.matching); a periodic full
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
    # Exposure (共债): the open loans carrying the token, one per record (a re-sent reference is one loan).
    # member_ids above counts adverse reports only; a token with only loans has an empty member_ids.
    loan_lenders = models.PositiveIntegerField(_("lenders with an open loan"), default=0)
    open_loans = models.PositiveIntegerField(_("open loans"), default=0)
    total_credit_limit = models.DecimalField(_("total credit limit"), max_digits=20, decimal_places=2, default=0)
    total_outstanding = models.DecimalField(_("total outstanding"), max_digits=20, decimal_places=2, default=0)
    latest_loan_opened = models.DateField(_("latest loan opened"), null=True)
    # One entry per open loan, in (member, record) order: what the answer's "yours" and "stale_loans" count,
    # as of the lookup (staleness moves with the clock, so it is counted when read, not stored).
    loan_member_ids = ArrayField(models.BigIntegerField(), verbose_name=_("lender of each open loan"), default=list)
    loan_outstanding = ArrayField(
        models.DecimalField(max_digits=14, decimal_places=2),
        verbose_name=_("outstanding balance of each open loan"),
        default=list,
    )
    loan_reported = ArrayField(models.DateTimeField(), verbose_name=_("latest report of each open loan"), default=list)
    # Relief (sharing.records.contracts): the members with an arrangement running on a loan or delinquency
    # carrying the token, the earliest start among those arrangements, their kinds, and how many of the
    # active delinquencies are under one. NULL, not empty, when there is none: most summaries have none,
    # and a NULL costs nothing in the row that every lookup reads.
    relief_member_ids = ArrayField(
        models.BigIntegerField(), verbose_name=_("members with a relief arrangement"), null=True
    )
    relief_since = models.DateField(_("in relief since"), null=True)
    relief_kinds = ArrayField(models.CharField(max_length=16), verbose_name=_("relief kinds"), null=True)
    relief_delinquencies = models.PositiveIntegerField(_("delinquencies under relief"), null=True)
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
        return gettext("summary %(token)s…") % {"token": bytes(self.token).hex()[:12]}


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


class SummaryCheck(models.Model):
    """One run of the summary check (``sharing.records.matching.summaries_drift_check``): what it recomputed and
    what it found. The next nightly run starts from this one's start and takes the next slice."""

    started_at = models.DateTimeField(_("started at"))
    full = models.BooleanField(_("full recomputation"), default=False)
    touched_since = models.DateTimeField(
        _("touched since"), null=True, help_text=_("Records changed from this moment on had their tokens checked.")
    )
    slice = models.PositiveIntegerField(_("slice"), help_text=_("Which slice of all summaries was recomputed."))
    slices = models.PositiveIntegerField(_("slices"))
    checked = models.BigIntegerField(_("tokens checked"))
    missing = models.BigIntegerField(_("missing"))
    stale = models.BigIntegerField(_("stale"))
    orphaned = models.BigIntegerField(_("orphaned"))

    class Meta:
        verbose_name = _("summary check")
        verbose_name_plural = _("summary checks")
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"{self.started_at:%Y-%m-%d %H:%M} {self.slice + 1}/{self.slices}"
