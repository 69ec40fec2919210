"""Protective registrations and their peppered tokens."""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _


class ProtectiveRegistration(models.Model):
    """A person's identity registered as at risk: lookups of its tokens warn the lender to verify more carefully.

    Made at the operator's desk (the person present) or by a member for its own customer with the person's
    consent. Lasts two years unless renewed; the person withdraws it at the desk. Which member made it is kept
    for the audit and never shown in a lookup.
    """

    class Reason(models.TextChoices):
        LOST = "lost", _("Identity documents lost")
        STOLEN = "stolen", _("Identity documents stolen")
        MISUSED = "misused", _("Identity used by someone else")

    class Channel(models.TextChoices):
        DESK = "desk", _("At the operator's desk")
        MEMBER = "member", _("Through a member, with the person's consent")

    reason = models.CharField(_("reason"), max_length=16, choices=Reason.choices)
    channel = models.CharField(_("channel"), max_length=16, choices=Channel.choices)
    member = models.ForeignKey(
        "members.Institution",
        verbose_name=_("registering member"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text=_("The member that registered it for its customer; empty when made at the desk."),
    )
    consent_reference = models.CharField(_("consent reference"), max_length=200, blank=True)
    registered_at = models.DateTimeField(_("at risk since"), default=timezone.now)
    registered_by = models.CharField(_("registered by"), max_length=200)
    expires_at = models.DateTimeField(_("expires at"), help_text=_("Two years after registration or renewal."))
    renewed_at = models.DateTimeField(_("renewed at"), null=True, blank=True)
    withdrawn_at = models.DateTimeField(_("withdrawn at"), null=True, blank=True)
    withdrawn_by = models.CharField(_("withdrawn by"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("protective registration")
        verbose_name_plural = _("protective registrations")
        ordering = ["-registered_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(channel="desk", member__isnull=True)
                | models.Q(channel="member", member__isnull=False),
                name="protective_registration_member_by_channel",
            ),
            models.CheckConstraint(
                condition=models.Q(expires_at__gt=models.F("registered_at")),
                name="protective_registration_expires_after_start",
            ),
        ]

    def __str__(self) -> str:
        return gettext("protective registration %(id)s") % {"id": self.pk}


class ProtectiveToken(models.Model):
    """One identifier of a registration, peppered like every stored token (one per type and key version).

    Carries a copy of what a lookup needs of its registration (since when, in force until when), so that the
    lookup reads this table alone by token: on a Citus cluster it is sharded by token beside the summaries
    and the lookup log (docs/design.md, "Distribution (Citus)"), where the registrations are not. So no
    database foreign key to the registration either (a token-keyed table cannot reference another key's):
    the services write both in one transaction, and the copy follows every renewal and withdrawal.
    """

    pk = models.CompositePrimaryKey("registration_id", "token")
    registration = models.ForeignKey(
        ProtectiveRegistration, on_delete=models.CASCADE, db_constraint=False, db_index=False, related_name="tokens"
    )
    id_type = models.CharField(_("identifier type"), max_length=16)
    token = models.BinaryField(_("peppered token"), max_length=32)
    registered_at = models.DateTimeField(_("registered at"))
    # The registration's expiry, or the moment it was withdrawn: in force while this is in the future.
    in_force_until = models.DateTimeField(_("in force until"))

    class Meta:
        verbose_name = _("protected identifier")
        verbose_name_plural = _("protected identifiers")
        # Every lookup probes it by equality for each asked token.
        indexes = [models.Index(fields=["token"], name="protective_token_idx")]

    def __str__(self) -> str:
        return f"{self.id_type} of protective registration {self.registration_id}"
