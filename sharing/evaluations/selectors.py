"""What a member may still have evaluated: its limits, derived from its own use of tokens."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.db import connection

from sharing.evaluations.models import TokenEvaluationLimit
from sharing.tokens.models import ConsortiumKey

WINDOW_DAYS = 30
# A member's limits are recomputed at most this often (seconds): they move with a month's traffic, not a request's.
ALLOWANCE_CACHE_SECONDS = 60

# Tokens the member used over the window: identifiers it looked up, its records' identifiers it sent (new or
# updated), its watches' identifiers. Sums, not distinct tokens: an upper bound that costs three index scans.
_USED_SQL = """
    SELECT
        (SELECT coalesce(sum(identifiers), 0) FROM sharing_lookup
          WHERE member_id = %(member)s AND created_at >= %(since)s)
      + (SELECT coalesce(sum(cardinality(identifier_types)), 0) FROM sharing_record
          WHERE member_id = %(member)s AND updated_at >= %(since)s)
      + (SELECT coalesce(sum(cardinality(identifier_types)), 0) FROM sharing_watch
          WHERE member_id = %(member)s AND updated_at >= %(since)s)
"""
# The migration allowance: the member's own standing records' identifiers of each type still under a v1 key.
_MIGRATION_SQL = """
    SELECT id_type, count(*) FROM sharing_record r, unnest(r.identifier_types) AS id_type
     WHERE r.member_id = %(member)s AND r.status <> 'retracted' AND r.key_version = ANY(%(v1)s)
     GROUP BY id_type
"""


@dataclass(frozen=True)
class Allowance:
    used: int  # tokens used in submissions, lookups and watches over the window
    per_day: int  # evaluations per identifier type per day, before the migration allowance
    per_day_set_by_operator: bool
    migration: dict[str, int]  # per type: identifiers of the member's records still under a v1 key

    def daily_limit(self, id_type: str) -> int:
        return self.per_day + self.migration.get(id_type, 0)

    @property
    def window_limit(self) -> int:
        """Evaluations over the window: RATIO × the tokens used, plus the slack and the migration allowance."""
        return (
            int(settings.RISKSHARE_EVALUATIONS_RATIO * self.used)
            + settings.RISKSHARE_EVALUATIONS_SLACK
            + sum(self.migration.values())
        )


def allowance_cache_key(member_id: int) -> str:
    return f"riskshare:evaluation-allowance:{int(member_id)}"


def evaluation_allowance(*, member_id: int, now: dt.datetime) -> Allowance:
    cached = cache.get(allowance_cache_key(member_id))
    if cached is not None:
        used, per_day, set_by_operator, migration = cached
        return Allowance(used, per_day, set_by_operator, dict(migration))
    v1_versions = list(
        ConsortiumKey.objects.filter(scheme=ConsortiumKey.Scheme.HMAC_V1).values_list("version", flat=True)
    )
    with connection.cursor() as cursor:
        cursor.execute(_USED_SQL, {"member": member_id, "since": now - dt.timedelta(days=WINDOW_DAYS)})
        (used,) = cursor.fetchone()
        cursor.execute(_MIGRATION_SQL, {"member": member_id, "v1": v1_versions})
        migration = dict(cursor.fetchall())
    override = (
        TokenEvaluationLimit.objects.filter(member_id=member_id).values_list("evaluations_per_day", flat=True).first()
    )
    per_day = (
        override
        if override is not None
        else max(settings.RISKSHARE_EVALUATIONS_PER_DAY_FLOOR, 2 * int(used) // WINDOW_DAYS)
    )
    allowance = Allowance(int(used), per_day, override is not None, migration)
    cache.set(
        allowance_cache_key(member_id),
        (allowance.used, per_day, override is not None, tuple(migration.items())),
        ALLOWANCE_CACHE_SECONDS,
    )
    return allowance


_PROGRESS_SQL = """
    SELECT m.name, m.uscc, k.version, k.scheme,
           (SELECT count(*) FROM sharing_record r
             WHERE r.member_id = m.id AND r.key_version = k.version AND r.status <> 'retracted'),
           (SELECT count(*) FROM sharing_watch w WHERE w.member_id = m.id AND w.key_version = k.version)
      FROM members_institution m CROSS JOIN sharing_consortiumkey k
     WHERE k.state = 'current'
     ORDER BY m.name, k.version
"""


@dataclass(frozen=True)
class KeyProgress:
    member: str
    uscc: str
    version: int
    scheme: str
    records: int
    watches: int


def key_version_progress() -> list[KeyProgress]:
    """Per member and current key version: its standing records and watches under that version.

    What the operator watches during a move between key versions: once every member shows none under the old
    version, retiring it loses no record from lookups.
    """
    with connection.cursor() as cursor:
        cursor.execute(_PROGRESS_SQL)
        return [KeyProgress(*row) for row in cursor.fetchall() if row[4] or row[5]]
