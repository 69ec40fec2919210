"""The alert: a notice to one member."""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext, pgettext_lazy
from django.utils.translation import gettext_lazy as _


class Alert(models.Model):
    """A notice to a member, read through the API. Never names the member that reported."""

    class Kind(models.TextChoices):
        DISPUTE_FILED = "dispute_filed", _("A dispute was filed against your records")
        DISPUTE_RESOLVED = "dispute_resolved", _("A dispute you filed was settled")
        RECORD_CORRECTED = "record_corrected", _("Data your lookups relied on was corrected")
        WEBHOOK_FAILING = "webhook_failing", _("A webhook endpoint stopped accepting deliveries")
        PARTNER_REVIEW_DUE = "partner_review_due", _("A partner's licence, agreement or due diligence needs review")
        PARTNER_FLAGGED = "partner_flagged", _("A partner you registered was flagged")

    member = models.ForeignKey(
        "members.Institution", verbose_name=_("member"), on_delete=models.PROTECT, related_name="+"
    )
    kind = models.CharField(pgettext_lazy("alert", "kind"), max_length=32, choices=Kind.choices)
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
        return gettext("%(kind)s, to member %(member)s") % {"kind": self.get_kind_display(), "member": self.member_id}
