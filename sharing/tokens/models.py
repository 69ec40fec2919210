"""Key versions: which keys members may tokenize with, under which scheme (docs/identifier-tokens.md)."""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class ConsortiumKey(models.Model):
    """A key version: the registry of every version members have tokenized with, of either scheme.

    ``hmac-v1``: members compute tokens with a shared consortium key the platform never holds.
    ``voprf-v2``: tokens come from the platform's evaluator (RFC 9497 VOPRF); the seed stays in the
    evaluator, and only the per-type public keys members verify proofs against are stored here.
    Either way the platform needs to know which versions are current, so it can refuse a submission
    or lookup that names an unknown or retired one.
    """

    class State(models.TextChoices):
        CURRENT = "current", _("Current")
        RETIRED = "retired", _("Retired")

    class Scheme(models.TextChoices):
        HMAC_V1 = "hmac-v1", _("HMAC-SHA256 under a shared consortium key (v1)")
        VOPRF_V2 = "voprf-v2", _("RFC 9497 VOPRF through the platform's evaluator (v2)")

    version = models.PositiveIntegerField(_("key version"), unique=True)
    scheme = models.CharField(
        _("scheme"),
        max_length=16,
        choices=Scheme.choices,
        default=Scheme.HMAC_V1,
        # In the database too: the statements that insert a version by hand (tests, benchmarks) predate v2.
        db_default=Scheme.HMAC_V1,
        help_text=_("How tokens of this version are computed."),
    )
    public_keys = models.JSONField(
        _("public keys"),
        default=dict,
        db_default=models.Value({}, models.JSONField()),
        blank=True,
        help_text=_("voprf-v2: each identifier type's ristretto255 public key (hex) that proofs are checked against."),
    )
    state = models.CharField(_("state"), max_length=16, choices=State.choices, default=State.CURRENT)
    check_value = models.CharField(
        _("check value"),
        max_length=16,
        help_text=_(
            "First 16 hex of HMAC-SHA256(key, 'riskshare:v1:key-check') (v1), or of SHA-256 over the public keys "
            "(v2): confirms a key file, reveals nothing."
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
            models.CheckConstraint(
                condition=models.Q(scheme="hmac-v1", public_keys={})
                | (models.Q(scheme="voprf-v2") & ~models.Q(public_keys={})),
                name="consortium_key_public_keys_with_voprf",
            ),
        ]

    def __str__(self) -> str:
        return f"v{self.version} {self.scheme} ({self.get_state_display()})"
