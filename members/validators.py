"""The unified social credit code as a model field validator (the check itself is ``core.uscc``)."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from core.uscc import uscc_problem


def validate_uscc(value: str) -> None:
    reason = uscc_problem(value)
    if reason is not None:
        raise ValidationError(_("Enter a valid 18-character unified social credit code (GB 32100-2015)."), code=reason)
