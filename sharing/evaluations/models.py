"""What each member obtained from the token evaluator, and the limits operators set."""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class TokenEvaluationCount(models.Model):
    """Blinded elements a member had evaluated for one identifier type on one day (UTC).

    One conditional upsert per request admits it only within the day's limit, so parallel requests cannot
    over-admit (the row lock orders them). Never an element, never a token: counts only.
    """

    pk = models.CompositePrimaryKey("member_id", "id_type", "day")
    member_id = models.BigIntegerField(_("member"))
    id_type = models.CharField(_("identifier type"), max_length=16)
    day = models.DateField(_("day"))
    evaluated = models.PositiveBigIntegerField(_("evaluations"), default=0)
    refused = models.PositiveBigIntegerField(_("refused evaluations"), default=0)

    class Meta:
        verbose_name = _("token evaluation count")
        verbose_name_plural = _("token evaluation counts")
        indexes = [models.Index(fields=["member_id", "day"], name="evaluation_member_day_idx")]

    def __str__(self) -> str:
        return f"{self.member_id} {self.id_type} {self.day}: {self.evaluated}"


class TokenEvaluationLimit(models.Model):
    """An operator's limit for one member; without one the default applies (docs/operations.md)."""

    member = models.OneToOneField(
        "members.Institution", verbose_name=_("member"), on_delete=models.PROTECT, related_name="+"
    )
    evaluations_per_day = models.PositiveIntegerField(
        _("evaluations per type per day"),
        help_text=_("Token evaluations the member may obtain per identifier type and day (UTC)."),
    )
    updated_at = models.DateTimeField(_("updated at"), default=timezone.now)
    updated_by = models.CharField(_("updated by"), max_length=200)

    class Meta:
        verbose_name = _("token evaluation limit")
        verbose_name_plural = _("token evaluation limits")

    def __str__(self) -> str:
        return f"{self.member}: {self.evaluations_per_day}"
