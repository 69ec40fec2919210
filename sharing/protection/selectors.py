"""Reads of protective registrations, by peppered token."""

from __future__ import annotations

import datetime as dt

from django.db.models import QuerySet
from django.utils import timezone

from sharing.protection.models import ProtectiveRegistration, ProtectiveToken


def registrations_active(*, tokens: list[bytes], now: dt.datetime | None = None) -> QuerySet[ProtectiveRegistration]:
    """Registrations in force now (not withdrawn, not expired) holding any of these peppered tokens."""
    now = now or timezone.now()
    return ProtectiveRegistration.objects.filter(
        pk__in=ProtectiveToken.objects.filter(token__in=tokens).values("registration_id"),
        withdrawn_at__isnull=True,
        expires_at__gt=now,
    ).order_by("registered_at")


def registrations_of(*, tokens: list[bytes]) -> QuerySet[ProtectiveRegistration]:
    """Every registration holding any of these peppered tokens, withdrawn and expired ones too (the person's report)."""
    return ProtectiveRegistration.objects.filter(
        pk__in=ProtectiveToken.objects.filter(token__in=tokens).values("registration_id")
    ).order_by("registered_at")


# For the lookups' one read statement: each asked token at risk now, with the earliest date it is since. From
# the tokens alone (their copy of the registration's times): on a Citus cluster this table is sharded by token
# beside the summaries, and a lookup of one token reads all it needs on that token's shard.
AT_RISK_SQL = """
    SELECT token, to_char(min(registered_at) AT TIME ZONE %(zone)s, 'YYYY-MM-DD')
    FROM sharing_protectivetoken
    WHERE token {asked} AND in_force_until > %(now)s
    GROUP BY token
"""
