"""Members' third-party partners (合作机构): who each member works with, their licences, and flags on them.

A partner is a company, so its USCC is stored in the clear. What a member registers is its own entry;
other members see a partner only through its profile, which counts and never names a member.
"""

from __future__ import annotations

import datetime as dt

from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from sharing.tlog.models import log_salt_field


class PartnerRole(models.TextChoices):
    ORIGINATION_PLATFORM = "origination_platform", _("Loan-origination platform")
    CREDIT_ENHANCER = "credit_enhancer", _("Credit enhancer")
    CO_LENDER = "co_lender", _("Co-lender")
    COLLECTION = "collection", _("Collection agency")
    DATA_PROVIDER = "data_provider", _("Data provider")
    TECHNOLOGY = "technology", _("Technology provider")


class LicenceType(models.TextChoices):
    FINANCING_GUARANTEE = "financing_guarantee", _("Financing guarantee")
    MICROLENDING = "microlending", _("Microlending")
    INSURANCE = "insurance", _("Insurance")
    CREDIT_REPORTING = "credit_reporting", _("Credit reporting")
    ICP = "icp", _("ICP (value-added telecom)")
    CONSUMER_FINANCE = "consumer_finance", _("Consumer finance")
    OTHER = "other", pgettext_lazy("licence type", "Other")


class Partner(models.Model):
    """One member's entry for one partner: the member's own due diligence and agreement."""

    member = models.ForeignKey(
        "members.Institution", verbose_name=_("member"), on_delete=models.PROTECT, related_name="+"
    )
    uscc = models.CharField(_("USCC"), max_length=18, help_text=_("The partner's unified social credit code."))
    name = models.CharField(_("name"), max_length=200)
    roles = ArrayField(models.CharField(max_length=24, choices=PartnerRole.choices), verbose_name=_("roles"))
    due_diligence_on = models.DateField(_("due diligence on"))
    agreement_expires_on = models.DateField(_("agreement expires on"))
    public_list_url = models.URLField(_("public list URL"), max_length=500, blank=True)
    exited_on = models.DateField(_("exited on"), null=True, blank=True)
    exit_reason = models.TextField(_("exit reason"), blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated at"), default=timezone.now)
    # Keys this entry's digests in the verifiable log (sharing.tlog), as a record's log_salt does.
    log_salt = log_salt_field()

    class Meta:
        verbose_name = _("partner")
        verbose_name_plural = _("partners")
        constraints = [models.UniqueConstraint(fields=["member", "uscc"], name="partner_member_uscc_unique")]
        indexes = [models.Index(fields=["uscc"], name="partner_uscc_idx")]

    def __str__(self) -> str:
        return f"{self.name} ({self.uscc})"


class PartnerLicence(models.Model):
    """A licence of a partner as the registering member recorded it."""

    partner = models.ForeignKey(Partner, verbose_name=_("partner"), on_delete=models.CASCADE, related_name="licences")
    type = models.CharField(pgettext_lazy("licence", "type"), max_length=24, choices=LicenceType.choices)
    number = models.CharField(_("licence number"), max_length=100)
    issuer = models.CharField(_("issuer"), max_length=200)
    valid_to = models.DateField(_("valid to"))

    class Meta:
        verbose_name = _("partner licence")
        verbose_name_plural = _("partner licences")
        indexes = [models.Index(fields=["valid_to"], name="partner_licence_valid_to_idx")]

    def __str__(self) -> str:
        return f"{self.get_type_display()} {self.number}"


class PartnerFlag(models.Model):
    """A member's report of misconduct by a partner (by USCC), reviewed by an operator.

    The partner may answer within 20 days, through a member that registered it; accepted flags count
    in the partner's profile for 24 months. The flagging member is never shown to anyone but operators.
    """

    class Category(models.TextChoices):
        FRAUD_PACKAGING = "fraud_packaging", _("Fraudulent application packaging (中介包装)")
        EXCESSIVE_COST = "excessive_cost", _("Financing cost over the legal line, or fees split out")
        INDUCING_OVER_BORROWING = "inducing_over_borrowing", _("Inducing over-borrowing")
        ILLEGAL_COLLECTION = "illegal_collection", _("Illegal collection")
        UNLICENSED_ACTIVITY = "unlicensed_activity", _("Unlicensed activity")
        DIRECT_DATA_TRANSFER = "direct_data_transfer", _("Direct transfer of personal data")
        FALSE_ADVERTISING = "false_advertising", _("False advertising")

    class Status(models.TextChoices):
        PENDING = "pending", _("Awaiting review")
        ACCEPTED = "accepted", _("Accepted")
        REJECTED = "rejected", _("Rejected")

    uscc = models.CharField(_("partner USCC"), max_length=18)
    member = models.ForeignKey(
        "members.Institution",
        verbose_name=_("flagged by"),
        on_delete=models.PROTECT,
        related_name="+",
    )
    category = models.CharField(pgettext_lazy("flag", "category"), max_length=32, choices=Category.choices)
    description = models.TextField(_("description"))
    evidence_sha256 = models.CharField(_("evidence SHA-256"), max_length=64)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.PENDING)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    answer_due = models.DateField(_("answer due"), help_text=_("The partner may answer until this day."))
    answer = models.TextField(_("partner's answer"), blank=True)
    answered_at = models.DateTimeField(_("answered at"), null=True, blank=True)
    answered_by = models.ForeignKey(
        "members.Institution",
        verbose_name=_("answer relayed by"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    reviewed_at = models.DateTimeField(_("reviewed at"), null=True, blank=True)
    reviewed_by = models.CharField(_("reviewed by"), max_length=200, blank=True)
    review_note = models.TextField(_("review note"), blank=True)
    expires_on = models.DateField(_("counts until"), null=True, blank=True)
    # Keys this entry's digests in the verifiable log (sharing.tlog), as a record's log_salt does.
    log_salt = log_salt_field()

    class Meta:
        verbose_name = _("partner flag")
        verbose_name_plural = _("partner flags")
        permissions = [("review_partnerflag", _("Can review partner flags"))]
        indexes = [
            models.Index(fields=["uscc", "status"], name="partner_flag_uscc_idx"),
            models.Index(fields=["member", "-id"], name="partner_flag_member_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status="pending") | ~models.Q(review_note=""), name="partner_flag_review_has_note"
            ),
        ]

    def __str__(self) -> str:
        return f"flag {self.pk} on {self.uscc}"

    def answer_window_open(self, today: dt.date) -> bool:
        return self.status == self.Status.PENDING and not self.answer and today <= self.answer_due


class PolicyCard(models.Model):
    """One published version of a member's risk-policy disclosure card (定期披露风控政策). Immutable.

    ``document`` is the canonical JSON the platform signed (``signature``, Ed25519 with the report key):
    what anyone can check against the platform's public key.
    """

    member = models.ForeignKey(
        "members.Institution", verbose_name=_("member"), on_delete=models.PROTECT, related_name="+"
    )
    version = models.PositiveIntegerField(pgettext_lazy("policy card", "version"))
    max_credit_line = models.DecimalField(_("maximum credit line per borrower"), max_digits=14, decimal_places=2)
    max_annual_rate = models.DecimalField(_("maximum annual rate"), max_digits=5, decimal_places=4)
    decline_at_lenders = models.PositiveIntegerField(
        _("declines at this many other lenders"), help_text=_("Other lenders with open loans at which it declines.")
    )
    watch_all_loans = models.BooleanField(_("watches all its loans"))
    review_days = models.PositiveIntegerField(_("post-loan review every (days)"))
    collection_policy = models.TextField(_("collection policy"))
    partner_list_url = models.URLField(_("partner list URL"), max_length=500, blank=True)
    relief_kinds = ArrayField(
        models.CharField(max_length=16),
        verbose_name=_("relief offered"),
        default=list,
        blank=True,
        help_text=_("Kinds of relief the member offers borrowers in difficulty; empty when the card says none."),
    )
    relief_eligibility = models.TextField(_("relief offered to"), blank=True, default="")
    relief_how_to_ask = models.TextField(_("how a borrower asks for relief"), blank=True, default="")
    effective_from = models.DateField(_("effective from"))
    published_at = models.DateTimeField(_("published at"), default=timezone.now)
    document = models.BinaryField(_("signed document"))
    signature = models.BinaryField(_("signature"))
    # Keys this entry's digests in the verifiable log (sharing.tlog), as a record's log_salt does.
    log_salt = log_salt_field()

    class Meta:
        verbose_name = _("risk-policy card")
        verbose_name_plural = _("risk-policy cards")
        constraints = [models.UniqueConstraint(fields=["member", "version"], name="policy_card_version_unique")]

    def __str__(self) -> str:
        return f"{self.member_id} v{self.version}"
