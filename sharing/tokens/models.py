"""Consortium key versions: which keys members may tokenize with."""

from __future__ import annotations

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
