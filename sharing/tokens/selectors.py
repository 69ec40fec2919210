"""Reads of consortium key versions, cached."""

from __future__ import annotations

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.utils.translation import gettext as _

from core.errors import DomainError
from sharing.tokens.models import ConsortiumKey


def key_versions() -> tuple[frozenset[int], frozenset[int]]:
    """The current and the retired consortium key versions (one query, for a whole batch)."""
    current, retired = set(), set()
    for version, state in ConsortiumKey.objects.values_list("version", "state"):
        (current if state == ConsortiumKey.State.CURRENT else retired).add(version)
    return frozenset(current), frozenset(retired)


def key_version_cache_key(version: int) -> str:
    return f"riskshare:key-version:{int(version)}"


def cached_forget(key: str) -> None:
    """Drop a cached value now, and again after commit (a reader may cache the old value in between)."""
    cache.delete(key)
    transaction.on_commit(lambda: cache.delete(key))


def key_version_require_current(*, version: int, field: str = "/key_version") -> None:
    """Refuse a submission or lookup that names an unknown or retired key version.

    Read through a cache of a few seconds: a retirement applies to lookups within that time.
    """
    cache_key = key_version_cache_key(version)
    state = cache.get(cache_key)
    if state is None:
        state = ConsortiumKey.objects.filter(version=version).values_list("state", flat=True).first() or "unknown"
        cache.set(cache_key, state, settings.RISKSHARE_SETTINGS_CACHE_SECONDS)
    if state == ConsortiumKey.State.CURRENT:
        return
    if state == "unknown":
        raise DomainError(
            _("Key version %(v)s is unknown to the platform.") % {"v": version}, code="unknown_key_version", field=field
        )
    raise DomainError(
        _("Key version %(v)s has been retired; tokenize with a current key.") % {"v": version},
        code="retired_key_version",
        field=field,
    )


def voprf_key_current(*, version: int, field: str = "/key_version") -> ConsortiumKey:
    """The current v2 key version ``version``, or the domain error that says why tokens cannot be made under it."""
    key = ConsortiumKey.objects.filter(version=version).first()
    if key is None:
        raise DomainError(
            _("Key version %(v)s is unknown to the platform.") % {"v": version}, code="unknown_key_version", field=field
        )
    if key.state != ConsortiumKey.State.CURRENT:
        raise DomainError(
            _("Key version %(v)s has been retired; tokenize with a current key.") % {"v": version},
            code="retired_key_version",
            field=field,
        )
    if key.scheme != ConsortiumKey.Scheme.VOPRF_V2:
        raise DomainError(
            _("Key version %(v)s is a shared consortium key (v1): members compute its tokens themselves.")
            % {"v": version},
            code="not_a_v2_key_version",
            field=field,
        )
    return key


def key_directory() -> list[dict]:
    """Every key version with its scheme, state, validity and (v2) public keys: what members pin."""
    return [
        {
            "version": key.version,
            "scheme": key.scheme,
            "state": key.state,
            "check_value": key.check_value,
            "valid_from": key.created_at.isoformat(),
            "retired_at": key.retired_at.isoformat() if key.retired_at else None,
            "public_keys": key.public_keys or None,
        }
        for key in ConsortiumKey.objects.order_by("version")
    ]


def key_version_retired(*, version: int) -> bool:
    return ConsortiumKey.objects.filter(version=version, state=ConsortiumKey.State.RETIRED).exists()
