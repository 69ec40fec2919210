"""Lookup limits per credential, and the enumeration watch.

The counters live in PostgreSQL: one conditional upsert per window admits a
request only while the window's total stays within the limit, so 50 clients at
once cannot over-admit (the row lock orders them), and when the store is down
nothing is admitted (fail closed). No second data store to run or to lose.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.db import DatabaseError, connection, transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext as _

from core.clock import business_date, business_today
from core.errors import LimitReached
from members.audit import Actor, audit_event_record
from members.models import Credential, Institution
from sharing.lookups.models import LookupQuota, LookupTally, MemberFlag, QuotaUsage
from sharing.tokens.selectors import cached_forget

# Both windows in one statement. Each counts only while its total stays within its limit (a fresh
# window too: the amount alone may exceed it). When either refuses, the statement raises (SQLSTATE
# RSQ01, migration 0011), which aborts the claim's transaction and whatever was sent behind it.
# A counter lost in a database crash only lets a few requests more through: the claim's commit need
# not wait for the disk (the lookup's own commit does wait).
_CONSUME_SQL = """
    WITH minute AS (
        INSERT INTO sharing_quotausage AS usage (credential_id, "window", window_start, used)
        SELECT %(credential)s, 'minute', %(minute)s, 1 WHERE 1 <= %(per_minute)s
        ON CONFLICT (credential_id, "window", window_start)
        DO UPDATE SET used = usage.used + EXCLUDED.used WHERE usage.used + EXCLUDED.used <= %(per_minute)s
        RETURNING used
    ), day AS (
        INSERT INTO sharing_quotausage AS usage (credential_id, "window", window_start, used)
        SELECT %(credential)s, 'day', %(day)s, %(identifiers)s WHERE %(identifiers)s <= %(per_day)s
        ON CONFLICT (credential_id, "window", window_start)
        DO UPDATE SET used = usage.used + EXCLUDED.used WHERE usage.used + EXCLUDED.used <= %(per_day)s
        RETURNING used
    )
    SELECT CASE
            WHEN NOT EXISTS (SELECT FROM minute) THEN riskshare_quota_refused('minute')
            WHEN NOT EXISTS (SELECT FROM day) THEN riskshare_quota_refused('day')
        END,
        set_config('synchronous_commit', 'off', true)
"""
_REFUSED_SQLSTATE = "RSQ01"


_REFUSAL_SQL = """
    INSERT INTO sharing_quotarefusal (credential_id, member_id, day, "window", refused) VALUES (%s, %s, %s, %s, 1)
    ON CONFLICT (credential_id, day, "window") DO UPDATE SET refused = sharing_quotarefusal.refused + 1
"""


def quota_limits_cache_key(member_id: int) -> str:
    return f"riskshare:lookup-quota:{int(member_id)}"


def quota_limits(*, member_id: int) -> tuple[int, int]:
    """The member's limits: its override, else the platform defaults.

    The override is read through a cache of a few seconds (every lookup needs it); a change made
    in the admin applies to every server process within that time.
    """
    cache_key = quota_limits_cache_key(member_id)
    override = cache.get(cache_key)
    if override is None:
        row = (
            LookupQuota.objects.filter(member_id=member_id)
            .values_list("requests_per_minute", "identifiers_per_day")
            .first()
        )
        override = tuple(row) if row else ()
        cache.set(cache_key, override, settings.RISKSHARE_SETTINGS_CACHE_SECONDS)
    if override:
        return override
    return settings.RISKSHARE_LOOKUP_REQUESTS_PER_MINUTE, settings.RISKSHARE_LOOKUP_IDENTIFIERS_PER_DAY


class QuotaExceeded(LimitReached):
    def __init__(self, *, wait: int, detail: str, window: str):
        super().__init__(detail, retry_after=wait)
        self.window = window


def quota_refusal_count(*, credential: Credential, window: str) -> None:
    """Count a refused request for the self-inspection reports: one upsert, its own commit.

    Called after the refused request's counting was rolled back and outside any transaction of
    the request, so the count survives the 429. Losing one in a crash costs a count, not safety.
    """
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL synchronous_commit = off")
        cursor.execute(_REFUSAL_SQL, [credential.pk, credential.institution_id, business_today(), window])


@dataclass(frozen=True)
class QuotaClaim:
    """One request's claim on a credential's two windows: a statement, and the 429 when it refuses.

    The statement goes first in a transaction of its own (``core.sql.pipeline(commit=True)``),
    inside ``refusal_raised``: a refused request counts nothing, and no request holds the counters'
    row locks longer than that transaction.
    """

    credential: Credential
    identifiers: int
    now: dt.datetime
    per_minute: int
    per_day: int

    @property
    def minute(self) -> dt.datetime:
        return self.now.replace(second=0, microsecond=0)

    @property
    def day(self) -> dt.datetime:
        return self.now.astimezone(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)

    def statement(self, *, also: str = "") -> tuple[str, dict]:
        """The claim; ``also``: more columns for its one row (``, expression, …``), evaluated once it passed.

        A caller's own per-transaction settings ride in it, one statement fewer than their own.
        """
        params = {
            "credential": self.credential.pk,
            "minute": self.minute,
            "day": self.day,
            "identifiers": self.identifiers,
            "per_minute": self.per_minute,
            "per_day": self.per_day,
        }
        return _CONSUME_SQL + also, params

    @contextmanager
    def refusal_raised(self) -> Iterator[None]:
        """Turn the statement's refusal, once its transaction has rolled back, into 429 with Retry-After."""
        try:
            yield
        except DatabaseError as exc:
            cause = exc.__cause__
            if getattr(cause, "sqlstate", None) != _REFUSED_SQLSTATE:
                raise
            self.refuse(cause.diag.message_detail)

    def refuse(self, window: str) -> None:
        if window == "minute":
            ends, limit = self.minute + dt.timedelta(minutes=1), self.per_minute
            detail = _("Lookup limit reached: %(limit)d requests a minute.") % {"limit": limit}
        else:
            ends, limit = self.day + dt.timedelta(days=1), self.per_day
            detail = _("Lookup limit reached: %(limit)d identifiers a day.") % {"limit": limit}
        wait = max(1, math.ceil((ends - self.now).total_seconds()))
        raise QuotaExceeded(wait=wait, detail=detail, window=window)


def quota_claim(*, credential: Credential, identifiers: int, now: dt.datetime) -> QuotaClaim:
    per_minute, per_day = quota_limits(member_id=credential.institution_id)
    return QuotaClaim(credential, identifiers, now, per_minute, per_day)


@contextmanager
def refusals_counted(credential: Credential):
    """Count a refused request for the self-inspection reports, once its transaction has rolled back."""
    try:
        yield
    except QuotaExceeded as exc:
        quota_refusal_count(credential=credential, window=exc.window)
        raise


# Per credential and minute, for the other endpoints than lookups (settings.RISKSHARE_RATE_LIMITS). The same
# accounting as the lookups' minute window: one conditional upsert admits a request only while the
# minute's count stays within the limit, so concurrent requests cannot over-admit; a database that
# cannot count admits nothing (the error is the answer). Its own commit, not waiting for the disk.
_RATE_SQL = """
    WITH counted AS (
        INSERT INTO sharing_quotausage AS usage (credential_id, "window", window_start, used)
        SELECT %(credential)s, %(scope)s, %(minute)s, 1 WHERE 1 <= %(limit)s
        ON CONFLICT (credential_id, "window", window_start)
        DO UPDATE SET used = usage.used + 1 WHERE usage.used + 1 <= %(limit)s
        RETURNING used
    )
    SELECT EXISTS (SELECT FROM counted), set_config('synchronous_commit', 'off', true)
"""


@dataclass(frozen=True)
class RateRefusal:
    scope: str
    limit: int
    wait: int  # seconds until the minute ends


def rate_limit_consume(*, credential_id: int, scope: str, now: dt.datetime) -> RateRefusal | None:
    """Count one request of ``scope`` against the credential's limit for this minute; the refusal, if over it."""
    limit = settings.RISKSHARE_RATE_LIMITS[scope]
    minute = now.replace(second=0, microsecond=0)
    with connection.cursor() as cursor:
        cursor.execute(_RATE_SQL, {"credential": credential_id, "scope": scope, "minute": minute, "limit": limit})
        admitted = cursor.fetchone()[0]
    if admitted:
        return None
    wait = max(1, math.ceil((minute + dt.timedelta(minutes=1) - now).total_seconds()))
    return RateRefusal(scope=scope, limit=limit, wait=wait)


def quota_usage_purge(*, now: dt.datetime | None = None) -> int:
    cutoff = (now or timezone.now()) - dt.timedelta(days=2)
    deleted, _details = QuotaUsage.objects.filter(window_start__lt=cutoff).delete()
    return deleted


def lookup_quota_set(*, actor: Actor, member: Institution, requests_per_minute: int, identifiers_per_day: int):
    with transaction.atomic():
        quota, _created = LookupQuota.objects.update_or_create(
            member=member,
            defaults={
                "requests_per_minute": requests_per_minute,
                "identifiers_per_day": identifiers_per_day,
                "updated_at": timezone.now(),
                "updated_by": actor.label,
            },
        )
        audit_event_record(
            actor=actor,
            action="lookup_quota.set",
            obj=member,
            payload={"requests_per_minute": requests_per_minute, "identifiers_per_day": identifiers_per_day},
        )
        cached_forget(quota_limits_cache_key(member.pk))
    return quota


# The last minutes' lookups, tallied per member and minute: identifiers, hits, and hits on tokens the
# member itself reports (a member looking up its own borrowers proves nothing about enumeration). A
# minute is tallied again while its lookups may still be committing, so each tally is exact.
_TALLY_SQL = """
    WITH looked AS (
        SELECT member_id, date_trunc('minute', created_at) AS minute, sum(identifiers) AS identifiers,
            sum(hits) AS hits
        FROM sharing_lookup WHERE created_at >= %(since)s
        GROUP BY 1, 2
    ), hit AS MATERIALIZED (
        -- Read alone: on a Citus cluster the lookups stay on the coordinator and their entries are sharded
        -- by token, and Citus joins no local table with a sharded one (docs/design.md, "Distribution").
        SELECT id, member_id, created_at FROM sharing_lookup WHERE created_at >= %(since)s AND hits > 0
    ), own AS (
        SELECT l.member_id, date_trunc('minute', l.created_at) AS minute, count(*) AS own_hits
        FROM hit l
        JOIN sharing_lookupentry e ON e.lookup_id = l.id AND e.hit
        JOIN sharing_tokensummary s ON s.token = e.token
        WHERE l.member_id = ANY(s.member_ids)
        GROUP BY 1, 2
    )
    INSERT INTO sharing_lookuptally AS tally (member_id, minute, identifiers, hits, own_hits)
    SELECT member_id, minute, identifiers, hits, coalesce(own_hits, 0)
    FROM looked LEFT JOIN own USING (member_id, minute)
    ON CONFLICT (member_id, minute) DO UPDATE SET
        identifiers = EXCLUDED.identifiers, hits = EXCLUDED.hits, own_hits = EXCLUDED.own_hits
"""

# Every window's counts of every member with lookups in the longest window, own hits left out.
_WINDOWS_SQL = """
    SELECT member_id, w.minutes, sum(identifiers - own_hits), sum(hits - own_hits)
    FROM sharing_lookuptally
    JOIN unnest(%(minutes)s::int[]) AS w(minutes) ON minute > %(now)s - make_interval(mins => w.minutes)
    WHERE minute > %(now)s - make_interval(mins => %(longest)s)
    GROUP BY member_id, w.minutes
    ORDER BY member_id, w.minutes
"""

# How far back a run tallies again at least: lookups commit a few milliseconds after their time.
_TALLY_AGAIN = dt.timedelta(minutes=3)


def lookups_tally(*, now: dt.datetime) -> None:
    """Tally the lookups since the last run's last minutes (after a pause of the watch, since then)."""
    longest = dt.timedelta(minutes=max(settings.RISKSHARE_ENUMERATION_WINDOWS))
    latest = LookupTally.objects.aggregate(latest=Max("minute"))["latest"]
    since = max(min(now - _TALLY_AGAIN, latest or now - longest), now - longest)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(_TALLY_SQL, {"since": since.replace(second=0, microsecond=0)})
        LookupTally.objects.filter(minute__lt=now - longest - _TALLY_AGAIN).delete()


def enumeration_watch(*, now: dt.datetime | None = None) -> list[MemberFlag]:
    """Flag every member whose lookups in a sliding window are many misses and almost nothing else.

    Runs every minute (beat), so a member is flagged within about a minute of crossing a window's
    threshold: it tallies the last minutes' lookups, then sums the tallies of each window
    (settings.RISKSHARE_ENUMERATION_WINDOWS: minutes → misses that count). Hits on the member's own
    reported tokens count neither as hits nor as lookups. Nothing on the lookup's own path, whose
    cost would otherwise grow with the member's traffic. Once a day per member, audited.
    """
    now = now or timezone.now()
    lookups_tally(now=now)
    windows = settings.RISKSHARE_ENUMERATION_WINDOWS
    with connection.cursor() as cursor:
        cursor.execute(_WINDOWS_SQL, {"minutes": sorted(windows), "now": now, "longest": max(windows)})
        rows = cursor.fetchall()
    crossed: dict[int, dict] = {}
    for member_id, minutes, identifiers, hits in rows:
        misses = identifiers - hits
        if member_id in crossed or misses < windows[minutes] or identifiers <= 0:
            continue
        miss_ratio = misses / identifiers
        if miss_ratio >= settings.RISKSHARE_ENUMERATION_MISS_RATIO:
            crossed[member_id] = {
                "window_minutes": minutes,
                "identifiers": int(identifiers),
                "hits": int(hits),
                "miss_ratio": round(miss_ratio, 5),
            }
    flags = []
    for member_id, detail in crossed.items():
        with transaction.atomic():
            flag, created = MemberFlag.objects.get_or_create(
                member_id=member_id,
                kind=MemberFlag.Kind.ENUMERATION,
                day=business_date(now),
                defaults={"detail": detail},
            )
            if created:
                audit_event_record(
                    actor=Actor.system("enumeration watch"), action="member.flagged", obj=flag, payload=detail
                )
                flags.append(flag)
    return flags
