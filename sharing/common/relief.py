"""The kinds of relief a lender agrees with a borrower in difficulty: reported on records (sharing.records), offered
on a risk-policy card (sharing.registers), so defined below both."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class ReliefKind(models.TextChoices):
    """Relief agreed with a borrower in difficulty (the PBOC report's 特殊交易, Metro 2's special comments)."""

    EXTENSION = "extension", _("Extension")
    DEFERRAL = "deferral", _("Deferral")
    RESTRUCTURING = "restructuring", _("Restructuring")
    REDUCED_PAYMENT = "reduced_payment", _("Reduced payments")
