"""The lookup quota as a client sees it: rate-limit headers on lookups, a section of ``GET /api/v1/me``.

Headers per the IETF httpapi draft "RateLimit header fields for HTTP" (structured fields):

    RateLimit-Policy: "minute";q=600;w=60, "day";q=2000000;w=86400;qu="identifiers"
    RateLimit: "minute";r=599;t=42, "day";r=1999990;t=51123

``q`` the quota, ``w`` the window in seconds, ``r`` what remains, ``t`` seconds until the window
resets. The minute window counts requests (the draft's default unit); the day window counts
identifiers, which the draft has no unit for, hence ``qu="identifiers"``.

Reads the counters that ``sharing.lookups.quotas`` keeps, without touching them: one primary-key
read of the two current windows.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

from django.utils import timezone

from core.sql import execute_binary
from members.models import Credential
from sharing.lookups.quotas import quota_claim

_USED_SQL = """
    SELECT "window", used FROM sharing_quotausage
    WHERE (credential_id, "window", window_start) IN ((%s, 'minute', %s), (%s, 'day', %s))
"""


@dataclass(frozen=True)
class Window:
    name: str
    limit: int
    remaining: int
    reset_seconds: int
    seconds: int


def quota_windows(*, credential: Credential, now: dt.datetime | None = None) -> list[Window]:
    now = now or timezone.now()
    claim = quota_claim(credential=credential, identifiers=0, now=now)
    # On every lookup's path: one fixed statement by primary key, prepared (core.sql), without the
    # ORM's compilation (measured: ORM 0.9 ms, plain cursor 0.17 ms).
    rows = execute_binary(_USED_SQL, [credential.pk, claim.minute, credential.pk, claim.day], fetch=True, prepare=True)
    used = dict(rows)
    minute_ends = claim.minute + dt.timedelta(minutes=1)
    day_ends = claim.day + dt.timedelta(days=1)
    return [
        Window(
            "minute",
            claim.per_minute,
            max(0, claim.per_minute - used.get("minute", 0)),
            max(0, math.ceil((minute_ends - now).total_seconds())),
            60,
        ),
        Window(
            "day",
            claim.per_day,
            max(0, claim.per_day - used.get("day", 0)),
            max(0, math.ceil((day_ends - now).total_seconds())),
            86400,
        ),
    ]


def ratelimit_headers(*, credential: Credential) -> dict[str, str]:
    windows = quota_windows(credential=credential)
    units = {"minute": "", "day": ';qu="identifiers"'}
    return {
        "RateLimit-Policy": ", ".join(f'"{w.name}";q={w.limit};w={w.seconds}{units[w.name]}' for w in windows),
        "RateLimit": ", ".join(f'"{w.name}";r={w.remaining};t={w.reset_seconds}' for w in windows),
    }


def me_lookup_quota(credential: Credential) -> dict:
    """The ``lookup_quota`` section of ``GET /api/v1/me`` (settings.RISKSHARE_ME_SECTIONS)."""
    names = {"minute": "requests_per_minute", "day": "identifiers_per_day"}
    return {
        "lookup_quota": {
            names[w.name]: {"limit": w.limit, "remaining": w.remaining, "resets_in_seconds": w.reset_seconds}
            for w in quota_windows(credential=credential)
        }
    }
