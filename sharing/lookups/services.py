"""Lookups: answer from the token summaries, log every identifier in the same transaction."""

from __future__ import annotations

import datetime as dt
import zlib
from dataclasses import dataclass
from typing import Any

import orjson
from django.conf import settings
from django.utils import timezone

from core.sql import pipeline
from members.audit import Actor, audit_event_statements
from members.models import Credential
from sharing.lookups.contracts import LookupRequest, consent_text
from sharing.lookups.models import CONSENT_PURPOSES, Lookup
from sharing.lookups.quotas import quota_claim, refusals_counted
from sharing.protection.selectors import AT_RISK_SQL
from sharing.tokens.pepper import TOKEN_AT_N, pepper_tokens
from sharing.tokens.sealing import answer_open, answer_seal
from sharing.tokens.selectors import key_version_require_current

MULTI_LENDING_WINDOW_DAYS = (30, 90)


@dataclass(frozen=True)
class LookupAnswer:
    """The answer to a lookup: its id and one result per asked identifier, in request order."""

    id: int
    results: list[dict[str, Any]]


# One statement per slice of asked tokens, two kinds of rows (one statement fewer: ~50 µs of psycopg's
# Python each). First each asked token's summary by the token's position in the slice, counted,
# compared and formatted as the answer shows it, so that 10,000 hits need no array, decimal or date
# objects in Python. A join, not "= ANY": the planner then probes the hash index once a token (~1.25
# pages against the primary key's 3: 10,000 tokens at 10 % hits in 22 ms instead of 34), and no row
# is checked against the whole array again (a bitmap scan over the hash index did that: 925 ms for
# 10,000 hits). Then, position NULL, the three columns after the relief ones: each asked token's inquiry counts,
# distinct other members whose credit lookups of it fall in the last 30 and 90 days. Only credit
# lookups' entries are read (a partial index, read index-only). Bounded on both sides, so that of the
# monthly partitions only the 3-4 months the 90 days span are probed (the months ahead and the default
# partition are pruned when the plan starts). Last, position NULL and the last column set: each asked
# token under a protective registration in force, with the day it is at risk since.
# The exposure columns (NULL without open loans) count the stale loans and the asker's own ("yours")
# from the summary's one-entry-per-loan arrays, as of now (staleness moves with the clock), with
# array functions rather than subqueries: the report times are sorted, so width_bucket counts those
# before the stale cutoff by binary search; the asker's one loan is read by its position. The relief
# columns follow: delinquencies under relief, members with a relief arrangement, whether the asker is one
# of them, the earliest start, the kinds.
_READ_TEMPLATE = """
    SELECT {position}, cardinality(member_ids), %(member)s = ANY(member_ids), blacklist_categories,
        to_char(blacklist_last_reported, 'YYYY-MM-DD'), active_delinquencies, max_overdue_days,
        total_overdue_amount::text, to_char(latest_delinquency_date, 'YYYY-MM-DD'), disputed, statement,
        NULLIF(open_loans, 0), loan_lenders, total_credit_limit::text, total_outstanding::text,
        to_char(latest_loan_opened, 'YYYY-MM-DD'),
        CASE WHEN open_loans > 0 THEN width_bucket(%(stale_before)s::timestamptz, loan_reported) END,
        NULLIF(cardinality(array_positions(loan_member_ids, %(member)s::bigint)), 0),
        CASE WHEN cardinality(array_positions(loan_member_ids, %(member)s::bigint)) = 1
             THEN loan_outstanding[array_position(loan_member_ids, %(member)s::bigint)]::text
             WHEN %(member)s = ANY(loan_member_ids)
             THEN (SELECT sum(o)::text FROM unnest(loan_member_ids, loan_outstanding) AS u(m, o)
                   WHERE m = %(member)s) END,
        relief_delinquencies, cardinality(relief_member_ids), %(member)s = ANY(relief_member_ids),
        to_char(relief_since, 'YYYY-MM-DD'), relief_kinds,
        NULL::bytea, NULL::bigint, NULL::bigint, NULL::text
    {summaries}
    UNION ALL
    SELECT NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
        NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
        token, count(DISTINCT member_id) FILTER (WHERE created_at >= %(short)s), count(DISTINCT member_id), NULL
    FROM sharing_lookupentry
    WHERE token {asked} AND multi_lending AND created_at >= %(long)s AND created_at <= %(now)s
        AND member_id <> %(member)s
    GROUP BY token
    UNION ALL
    SELECT NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
        NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
        at_risk.token, NULL, NULL, at_risk.since
    FROM ({at_risk}) AS at_risk(token, since)
"""
_SLICE_TOKENS = f"ARRAY(SELECT {TOKEN_AT_N} FROM generate_series(0, %(count)s - 1) n)"  # noqa: S608 - fixed SQL
# A slice's tokens are cut from one buffer inside SQL (sharing.tokens.pepper.TOKEN_AT_N).
_READ_SQL = _READ_TEMPLATE.format(
    position="n",
    summaries=f"FROM generate_series(0, %(count)s - 1) n JOIN sharing_tokensummary ON token = {TOKEN_AT_N}",
    asked=f"= ANY({_SLICE_TOKENS})",
    at_risk=AT_RISK_SQL.format(asked=f"= ANY({_SLICE_TOKENS})"),
)
# One token is named as a value: on a Citus cluster the summary read then goes to the one shard holding it
# (docs/design.md, "Distribution (Citus)"), where a token cut from a buffer inside SQL sends it to every shard.
_READ_ONE_SQL = _READ_TEMPLATE.format(
    position="0",
    summaries="FROM sharing_tokensummary WHERE token = %(token)s",
    asked="= %(token)s",
    at_risk=AT_RISK_SQL.format(asked="= %(token)s"),
)

# One entry per identifier (position from 0, hit flags one byte each). Sent before the answer is
# packed, so that PostgreSQL writes the entries while Python builds the results.
_ENTRIES_SQL = f"""
    INSERT INTO sharing_lookupentry (lookup_id, position, member_id, token, hit, multi_lending, created_at)
    SELECT %(id)s, n, %(member)s, {TOKEN_AT_N}, get_byte(%(hit_flags)s::bytea, n) = 1, %(multi_lending)s, %(now)s
    FROM generate_series(0, length(%(hit_flags)s::bytea) - 1) n
"""  # noqa: S608 - only the fixed TOKEN_AT_N is formatted in

_LOOKUP_SQL = """
    INSERT INTO sharing_lookup (id, member_id, credential_id, purpose, consent_reference, key_version,
        identifiers, hits, answer, created_at)
    VALUES (%(id)s, %(member)s, %(credential)s, %(purpose)s, %(consent)s, %(key_version)s, %(identifiers)s,
        %(hits)s, %(answer)s, %(now)s)
"""


# Tokens are peppered and read in slices of this many: PostgreSQL reads one slice's summaries while
# Python peppers the next (10,000 tokens: ~14 ms of peppering, ~25 ms of reading, overlapped).
READ_SLICE = 2_500

# Evaluated in the quota claim's row once it passed (``QuotaClaim.statement(also=…)``), before the reads:
# - no parallel workers (starting them costs more than the whole read, measured 170 ms instead of 60 ms);
# - the lookup's id, so that its row, its entries and its audit event go out in one round trip.
# The prepared reads and log statements run on generic plans, as the connection asks (settings.py):
# one probe of the token index per asked token, whatever the count.
_READ_SETTINGS = """,
    set_config('max_parallel_workers_per_gather', '0', true),
    nextval(pg_get_serial_sequence('sharing_lookup', 'id'))
"""


def _read_statement(tokens: bytes, *, member_id: int, now: dt.datetime) -> tuple[str, dict]:
    """One slice's read: its summaries (positions counted from the slice's start) and inquiry counts."""
    short, long = (now - dt.timedelta(days=days) for days in MULTI_LENDING_WINDOW_DAYS)
    params = {"member": member_id, "short": short, "long": long, "now": now, "zone": settings.TIME_ZONE}
    params["stale_before"] = now - dt.timedelta(days=settings.RISKSHARE_EXPOSURE_STALE_DAYS)
    if len(tokens) == 32:
        return _READ_ONE_SQL, {**params, "token": tokens}
    return _READ_SQL, {**params, "tokens": tokens, "count": len(tokens) // 32}


# Shared by every miss: nothing in them depends on the token, and they are never mutated.
_MISS_BLACKLIST = {"active": False, "categories": [], "last_reported": None}
_MISS_DELINQUENCY = {
    "active_records": 0,
    "max_overdue_days": 0,
    "total_overdue_amount": "0.00",
    "latest_event_date": None,
    "under_relief": 0,
}
_NO_INQUIRIES = {"members_30d": 0, "members_90d": 0}


_NO_YOURS = {"open_loans": 0, "total_outstanding": "0.00"}
_NO_RELIEF = {"lenders": 0, "since": None, "kinds": [], "yours": False}


def _relief(values: tuple | list) -> dict[str, Any]:
    """The exposure's relief block from its five values (none, or no member: nobody has an arrangement)."""
    if not values or not values[1]:
        return _NO_RELIEF
    _delinquencies, lenders, yours, since, kinds = values
    return {"lenders": lenders, "since": since, "kinds": kinds, "yours": yours}


def _exposure(values: tuple | list, relief: tuple | list) -> dict[str, Any] | None:
    """The exposure block from its eight values and the five of relief (none: nobody reports an open loan
    or a relief arrangement on the token). Answers stored before relief have no relief values."""
    if not values or not (values[0] or (relief and relief[1])):
        return None
    open_loans, lenders, limit, outstanding, latest, stale, yours_loans, yours_outstanding = values
    return {
        "lenders": lenders,
        "open_loans": open_loans or 0,
        "total_credit_limit": limit,
        "total_outstanding": outstanding,
        "latest_opened": latest,
        "stale_loans": stale or 0,
        "yours": {"open_loans": yours_loans, "total_outstanding": yours_outstanding} if yours_loans else _NO_YOURS,
        "relief": _relief(relief),
    }


def _result(row: tuple | list, token: str, at_risk: str | None = None) -> dict[str, Any]:
    """One result from its row and token (and the day its protective registration is since, if any).

    The row: type, the two inquiry counts, then for a token with a summary its ten summary values, then
    for a token with open loans or relief the eight exposure values and the five relief values (rows
    stored before relief stop after the exposure's). A summary of loans alone is no hit.
    """
    identity_at_risk = {"since": at_risk} if at_risk else None
    id_type, members_30d, members_90d = row[:3]
    summary = row[3:13]
    relief = row[21:26]
    exposure = _exposure(row[13:21], relief)
    inquiry_counts = (
        {"members_30d": members_30d, "members_90d": members_90d} if members_30d or members_90d else _NO_INQUIRIES
    )
    if not summary or not summary[0]:
        return {
            "type": id_type,
            "token": token,
            "hit": False,
            "reporting_members": 0,
            "reported_by_you": False,
            "blacklist": _MISS_BLACKLIST,
            "delinquency": _MISS_DELINQUENCY,
            "exposure": exposure,
            "inquiries": inquiry_counts,
            "disputed": bool(summary) and summary[8],
            "statement": bool(summary) and summary[9],
            "identity_at_risk": identity_at_risk,
        }
    members, yours, categories, last_reported, delinquencies, max_days, amount, latest, disputed, statement = summary
    return {
        "type": id_type,
        "token": token,
        "hit": True,
        "reporting_members": members,
        "reported_by_you": yours,
        "blacklist": {"active": bool(categories), "categories": categories, "last_reported": last_reported},
        "delinquency": {
            "active_records": delinquencies,
            "max_overdue_days": max_days,
            "total_overdue_amount": amount,
            "latest_event_date": latest,
            "under_relief": (relief[0] or 0) if relief else 0,
        },
        "exposure": exposure,
        "inquiries": inquiry_counts,
        "disputed": disputed,
        "statement": statement,
        "identity_at_risk": identity_at_risk,
    }


# First byte of a packed answer, inside its seal (``sharing.tokens.sealing.answer_seal``); an answer that
# warned of identities at risk is ``0x04``, its JSON ``[rows, [[position, since], …]]``.
_PACKED = b"\x03"
_PACKED_AT_RISK = b"\x04"


def answer_pack(
    rows: list[tuple], tokens: list[str], *, lookup_id: int, at_risk: dict[int, str] | None = None
) -> bytes:
    """The answer as stored: what each result was built from, to rebuild it exactly (``answer_unpack``).

    Sealed (``sharing.tokens.sealing``, bound to the lookup's id) because it holds the tokens as the member
    sent them. Inside the seal: ``0x03``, zlib-compressed JSON of one row per identifier
    (``[type, members_30d, members_90d]`` for a miss, followed by the ten summary values for a hit, and
    for open loans or relief the eight exposure and five relief values),
    then the tokens, 32 bytes each. The tokens are not compressed because compressing random hex
    was most of the cost: 10,000 rows pack in ~1 ms instead of ~10 ms, into 320 KB instead of 410 KB.
    Migration 0013 rewrote every answer stored otherwise into this one format.
    """
    if at_risk:
        body = _PACKED_AT_RISK + zlib.compress(orjson.dumps([rows, sorted(at_risk.items())]), 1)
    else:
        body = _PACKED + zlib.compress(orjson.dumps(rows), 1)
    return answer_seal(body + bytes.fromhex("".join(tokens)), lookup_id=lookup_id)


def answer_unpack(stored: bytes, *, lookup_id: int) -> list[dict]:
    """The results exactly as they were answered."""
    packed = answer_open(bytes(stored), lookup_id=lookup_id)
    if packed[:1] not in (_PACKED, _PACKED_AT_RISK):
        raise ValueError(f"lookup {lookup_id}: not a packed answer")
    rows = zlib.decompressobj()
    unpacked = orjson.loads(rows.decompress(packed[1:]))
    at_risk: dict[int, str] = {}
    if packed[:1] == _PACKED_AT_RISK:
        unpacked, pairs = unpacked
        at_risk = {position: since for position, since in pairs}
    tokens = rows.unused_data
    return [_result(row, tokens[n * 32 : n * 32 + 32].hex(), at_risk.get(n)) for n, row in enumerate(unpacked)]


def lookup_answer(*, credential: Credential, request: LookupRequest) -> LookupAnswer:
    """Count the lookup against the key's limits, answer it and log it (the enumeration watch reads the log).

    Returns the answer's id and results; the API renders them. Two round trips to the database
    after authentication, each a transaction this function owns, begun and committed by its
    ``pipeline(commit=True)`` block: the quota claim with every read (a refusal raises in the
    database and rolls it back), then the log — entries, lookup row with the answer, audit event.
    Called inside an atomic block it raises instead: the answer must not leave before its log is
    committed. The answer counts members, never names them.
    """
    key_version_require_current(version=request.key_version)
    consent = consent_text(request.consent_reference)
    member_id = credential.institution_id
    now = timezone.now()
    tokens = [identifier.token for identifier in request.identifiers]
    claim = quota_claim(credential=credential, identifiers=len(tokens), now=now)
    starts = range(0, len(tokens), READ_SLICE)
    peppered: list[bytes] = []
    with refusals_counted(credential), claim.refusal_raised(), pipeline(prepare=True, commit=True) as reads:
        reads.send([claim.statement(also=_READ_SETTINGS)])
        for start in starts:
            sliced = pepper_tokens(tokens[start : start + READ_SLICE])
            peppered.extend(sliced)
            reads.send([_read_statement(b"".join(sliced), member_id=member_id, now=now)])
    [(*_claimed, lookup_id)] = reads.results[0]
    summaries: dict[int, tuple] = {}
    inquiries: dict[bytes, tuple] = {}
    at_risk_since: dict[bytes, str] = {}
    for start, read_rows in zip(starts, reads.results[1:], strict=True):
        for row in read_rows:
            if row[0] is None and row[27] is not None:
                at_risk_since[bytes(row[24])] = row[27]
            elif row[0] is None:
                inquiries[bytes(row[24])] = row[25:27]
            else:
                summaries[start + row[0]] = row[1:24] if row[11] or row[20] else row[1:11]
    asked = b"".join(peppered)
    hit_flags = bytearray(len(peppered))
    hits = 0
    for position, summary in summaries.items():
        if summary[0]:  # reported by some member (open loans alone are exposure, not a hit)
            hit_flags[position] = 1
            hits += 1
    entries = {
        "id": lookup_id,
        "member": member_id,
        "tokens": asked,
        "hit_flags": bytes(hit_flags),
        "multi_lending": request.purpose in CONSENT_PURPOSES,
        "now": now,
    }
    # Unsaved: it names the lookup in its audit event; the row itself is written by _LOOKUP_SQL.
    lookup = Lookup(id=lookup_id, member_id=member_id, purpose=request.purpose)
    audit, _fields = audit_event_statements(
        actor=Actor.credential(credential),
        action="lookup.performed",
        obj=lookup,
        payload={
            "purpose": request.purpose,
            "identifiers": len(peppered),
            "hits": hits,
            "consent": bool(consent),
        },
    )
    with pipeline(prepare=True, commit=True) as log:
        # The entries go first: PostgreSQL writes them while Python builds, packs and renders the answer.
        log.send([(_ENTRIES_SQL, entries)], answered=False)
        rows = [
            (identifier.type, *inquiries.get(token, (0, 0)), *summaries.get(position, ()))
            for position, (identifier, token) in enumerate(zip(request.identifiers, peppered, strict=True))
        ]
        at_risk = {
            position: since
            for position, token in enumerate(peppered)
            if at_risk_since and (since := at_risk_since.get(token))
        }
        results = [_result(row, token, at_risk.get(n)) for n, (row, token) in enumerate(zip(rows, tokens, strict=True))]
        lookup_row = {
            "id": lookup_id,
            "member": member_id,
            "credential": credential.pk,
            "purpose": request.purpose,
            "consent": consent,
            "key_version": request.key_version,
            "identifiers": len(rows),
            "hits": hits,
            "answer": answer_pack(rows, tokens, lookup_id=lookup_id, at_risk=at_risk),
            "now": now,
        }
        log.send([(_LOOKUP_SQL, lookup_row), *audit])
    return LookupAnswer(lookup_id, results)
