"""Lookups, their log entries, quotas and the flags the enumeration watch raises."""

from __future__ import annotations

import pgtrigger
from django.contrib.postgres.indexes import BrinIndex, HashIndex
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext, pgettext_lazy
from django.utils.translation import gettext_lazy as _


class LookupPurpose(models.TextChoices):
    CREDIT_APPLICATION = "credit_application", _("Credit application")
    ACCOUNT_OPENING = "account_opening", _("Account opening")
    POST_LOAN_MONITORING = "post_loan_monitoring", _("Post-loan monitoring")
    FRAUD_INVESTIGATION = "fraud_investigation", _("Fraud investigation")


# Purposes that need the subject's written consent, and whose lookups are the multi-lending signal.
CONSENT_PURPOSES = frozenset({LookupPurpose.CREDIT_APPLICATION, LookupPurpose.ACCOUNT_OPENING})


class Lookup(models.Model):
    """One lookup request and the answer it got. Append-only: a trigger refuses UPDATE and DELETE.

    Partitioned by month of ``created_at`` (``core.partitions``, migration 0025): retention drops a month
    whole, with its entries. In the database the primary key is (id, created_at), as partitioning requires;
    Django keeps ``id`` as the key (the admin's URLs, ``GET /lookups/{id}``), unique by its sequence.
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
        permissions = [("search_subject", _("Can search who looked a subject up"))]
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
        return gettext("lookup %(id)s (%(purpose)s)") % {"id": self.pk, "purpose": self.get_purpose_display()}


class LookupEntry(models.Model):
    """One identifier of a lookup: the log that inquiry counts, disputes and reports read.

    Partitioned by month of ``created_at``, like its lookup and with the lookup's time: the database's
    primary key is (lookup_id, position, created_at).
    """

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
        return gettext("entry %(position)s of lookup %(lookup)s") % {
            "position": self.position,
            "lookup": self.lookup_id,
        }


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
        return gettext("%(member)s: %(minute)s a minute, %(day)s a day") % {
            "member": self.member,
            "minute": self.requests_per_minute,
            "day": self.identifiers_per_day,
        }


class QuotaUsage(models.Model):
    """Fixed-window counters of the lookup limits, incremented atomically in PostgreSQL."""

    class Window(models.TextChoices):
        MINUTE = "minute", _("Requests in a minute")
        DAY = "day", _("Identifiers in a day")
        # Requests in a minute to the other endpoints (settings.RISKSHARE_RATE_LIMITS).
        BATCHES = "batches", _("Record writes in a minute")
        LISTINGS = "listings", _("Reads in a minute")
        ALERTS = "alerts", _("Alert requests in a minute")
        DISPUTES = "disputes", _("Dispute requests in a minute")

    pk = models.CompositePrimaryKey("credential_id", "window", "window_start")
    credential_id = models.BigIntegerField()
    window = models.CharField(max_length=8, choices=Window.choices)
    window_start = models.DateTimeField()
    used = models.PositiveIntegerField()

    class Meta:
        indexes = [models.Index(fields=["window_start"], name="quota_usage_window_idx")]

    def __str__(self) -> str:
        return f"{self.credential_id} {self.window} {self.window_start}: {self.used}"


class LookupTally(models.Model):
    """A member's lookups in one minute, as the enumeration watch counts them (sharing.lookups.quotas).

    Filled by the watch itself from the last minutes' lookups, so that its windows (up to a day) are
    sums over at most 1,440 rows a member, never a re-read of the day's lookups.
    """

    pk = models.CompositePrimaryKey("member_id", "minute")
    member_id = models.BigIntegerField()
    minute = models.DateTimeField()
    identifiers = models.PositiveIntegerField()
    hits = models.PositiveIntegerField()
    own_hits = models.PositiveIntegerField(help_text="Hits on tokens the member itself reports.")

    class Meta:
        indexes = [models.Index(fields=["minute"], name="lookup_tally_minute_idx")]

    def __str__(self) -> str:
        return f"{self.member_id} {self.minute}: {self.identifiers}"


class MemberFlag(models.Model):
    """Something operators should look at, raised automatically (e.g. lookups that look like enumeration)."""

    class Kind(models.TextChoices):
        ENUMERATION = "enumeration", _("Possible enumeration")
        TOKEN_ENUMERATION = "token_enumeration", _("Token evaluations beyond the limits")

    member = models.ForeignKey(
        "members.Institution", verbose_name=_("member"), on_delete=models.PROTECT, related_name="+"
    )
    kind = models.CharField(pgettext_lazy("member flag", "kind"), max_length=32, choices=Kind.choices)
    day = models.DateField(_("day"))
    detail = models.JSONField(_("detail"), default=dict)
    created_at = models.DateTimeField(_("raised at"), default=timezone.now)

    class Meta:
        verbose_name = _("member flag")
        verbose_name_plural = _("member flags")
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["member", "kind", "day"], name="member_flag_once_a_day")]

    def __str__(self) -> str:
        return gettext("%(member)s: %(kind)s (%(day)s)") % {
            "member": self.member,
            "kind": self.get_kind_display(),
            "day": self.day,
        }


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
