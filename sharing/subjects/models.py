"""Issued subject reports: who asked and how their identity was checked, never the identifiers themselves."""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _


class IdentityDocument(models.TextChoices):
    RESIDENT_ID_CARD = "resident_id_card", _("Resident identity card")
    TEMPORARY_ID_CARD = "temporary_id_card", _("Temporary resident identity card")
    PASSPORT = "passport", _("Passport")
    HK_MACAO_PERMIT = "hk_macao_permit", _("Mainland travel permit for Hong Kong and Macao residents")
    TAIWAN_PERMIT = "taiwan_permit", _("Mainland travel permit for Taiwan residents")
    PERMANENT_RESIDENCE = "permanent_residence", _("Foreigner's permanent residence ID card")


class SubjectReport(models.Model):
    """One report issued to a person at the desk. The document itself is handed over, not kept: only its digest.

    Its tokens (peppered) count the person's free reports under any identifier, and make it show in the
    person's later reports as 本人查询; it never enters the lookup log, so it counts in nobody's multi-lending.
    """

    issued_at = models.DateTimeField(_("issued at"), default=timezone.now)
    issued_by = models.CharField(_("issued by"), max_length=200)
    document_type = models.CharField(_("identity document"), max_length=32, choices=IdentityDocument.choices)
    check_reference = models.CharField(
        _("identity check reference"),
        max_length=100,
        help_text=_("The desk's own reference of the identity check (ticket or form number), never an ID number."),
    )
    free = models.BooleanField(_("free"), help_text=_("One of the person's two free reports of the year."))
    extra_reason = models.TextField(
        _("reason for an additional report"), blank=True, help_text=_("The operator's decision beyond the free two.")
    )
    digest = models.CharField(
        _("document digest"), max_length=64, help_text=_("SHA-256 of the signed JSON document handed over.")
    )

    class Meta:
        verbose_name = _("subject report")
        verbose_name_plural = _("subject reports")
        ordering = ["-issued_at"]
        permissions = [("issue_subjectreport", _("Can issue a data subject's own report and file for them"))]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(free=True) | ~models.Q(extra_reason=""), name="subject_report_extra_has_reason"
            )
        ]

    def __str__(self) -> str:
        return gettext("subject report %(number)s") % {"number": self.number}

    @property
    def number(self) -> str:
        return f"SR{self.issued_at:%Y}{self.pk:08d}"


class SubjectReportToken(models.Model):
    """One identifier a report was issued for, peppered like every stored token.

    On a Citus cluster sharded by token beside the summaries (docs/design.md, "Distribution (Citus)"), where
    the reports are not: so no database foreign key to the report (a token-keyed table cannot reference
    another key's). The service writes both in one transaction, and Django deletes a report's tokens with it.
    """

    pk = models.CompositePrimaryKey("report_id", "token")
    report = models.ForeignKey(
        SubjectReport, on_delete=models.CASCADE, db_constraint=False, db_index=False, related_name="tokens"
    )
    id_type = models.CharField(_("identifier type"), max_length=16)
    token = models.BinaryField(_("peppered token"), max_length=32)

    class Meta:
        verbose_name = _("subject report identifier")
        verbose_name_plural = _("subject report identifiers")
        indexes = [models.Index(fields=["token"], name="subject_report_token_idx")]

    def __str__(self) -> str:
        return f"{self.id_type} of subject report {self.report_id}"
