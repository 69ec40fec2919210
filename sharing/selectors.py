"""Reads for sharing, scoped to the acting member where they concern records."""

from __future__ import annotations

from django.utils.translation import gettext as _

from config.errors import DomainError
from sharing.models import ConsortiumKey


def current_key_versions() -> frozenset[int]:
    return frozenset(ConsortiumKey.objects.filter(state=ConsortiumKey.State.CURRENT).values_list("version", flat=True))


def key_version_require_current(*, version: int, field: str = "/key_version") -> None:
    """Refuse a submission or lookup that names an unknown or retired key version."""
    state = ConsortiumKey.objects.filter(version=version).values_list("state", flat=True).first()
    if state == ConsortiumKey.State.CURRENT:
        return
    if state is None:
        raise DomainError(
            _("Key version %(v)s is unknown to the platform.") % {"v": version}, code="unknown_key_version", field=field
        )
    raise DomainError(
        _("Key version %(v)s has been retired; tokenize with a current key.") % {"v": version},
        code="retired_key_version",
        field=field,
    )
