"""Matching: one summary per peppered token, maintained from the records.

A summary is always *recomputed* from the records that carry its token, never
incremented, so running a job twice, or after a worker died half-way, gives
the same result: the effect is exactly-once even though delivery is
at-least-once.

What to recompute: a batch's job takes the tokens of the records that carry its
batch id (``sharing_record.batch_id``, indexed), in committed chunks; tokens
that an update took *away* from a record are queued in ``sharing_dirtytoken``
in the request's transaction and drained by any job.

Every recomputation holds a transaction-scoped advisory lock on the range of
its tokens (``MATCHING_RANGES`` slices of the tokens' first byte), so two jobs never
compute the same token from different snapshots and overwrite a newer answer
with an older one: each statement's snapshot is taken after the lock, so it
sees everything committed by the job before it, and whatever commits later
carries a batch id (or a queued token) whose own job comes after. Jobs on
different ranges run side by side (two workers use two cores); a batch's job
takes its ranges one at a time, and whoever needs several at once (a dispute,
a drain) takes them in ascending order, so lockers never deadlock.

Deduplication within a member: active records of one member that share the
token and have the same kind, category and event date are one fact. Open loans
(kind ``loan``) are not deduplicated by their facts: each record is one facility,
and a re-sent reference is the same record, so it is never counted twice.
Loans are exposure, not adverse information: they make no member a "reporting
member" (``member_ids``) but fill the summary's exposure columns. A relief arrangement
running on a loan or a delinquency (reported, no ``relief_end``, the record not resolved)
puts its member in ``relief_member_ids``; its kind and start are those of the fact (the
smallest, should two records of one fact differ).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from core.sql import execute_binary
from sharing.records.models import SummaryCheck
from sharing.records.signals import summaries_recomputed
from sharing.tokens.pepper import TOKEN_AT_N

logger = logging.getLogger(__name__)

# The facts of one token: active (or disputed and not yet ended) records, one row per member-level fact.
_SUMMARY_SELECT = """
    stated AS MATERIALIZED (
        -- The targets that a dispute with a statement names, read alone: on a Citus cluster the dispute tokens
        -- are sharded by token while the records are not, and Citus plans no correlated subquery on a sharded
        -- table from a local query (docs/design.md, "Distribution (Citus)"). A join, so that one PostgreSQL
        -- still chooses as it did for the EXISTS per summary this replaces: a probe of the token index per
        -- target, or one pass over the (few) dispute tokens for the drift check's millions of targets.
        SELECT DISTINCT dt.token FROM targets t JOIN sharing_disputetoken dt ON dt.token = t.token
        WHERE dt.statement
    ),
    facts AS (
        -- LATERAL keeps this an index lookup per token whatever the statistics say:
        -- the cost follows the number of dirty tokens, never the size of the tables.
        SELECT t.token, f.member_id, f.kind, f.category, f.event_date, f.loan_id,
               max(f.credit_limit) AS credit_limit,
               max(f.outstanding_balance) AS outstanding_balance,
               max(f.overdue_days) AS overdue_days,
               max(f.overdue_amount) AS overdue_amount,
               min(f.created_at) AS first_reported,
               max(f.reported_at) AS last_reported,
               bool_or(f.status = 'disputed') AS disputed,
               -- A running relief arrangement (no relief_end; a resolved record is not here at all).
               min(f.relief) FILTER (WHERE f.relief <> '' AND f.relief_end IS NULL) AS relief,
               min(f.relief_start) FILTER (WHERE f.relief <> '' AND f.relief_end IS NULL) AS relief_start
        FROM targets t
        CROSS JOIN LATERAL (
            SELECT r.member_id, r.kind, r.category, r.event_date, r.overdue_days, r.overdue_amount,
                   r.created_at, r.reported_at, r.status, r.credit_limit, r.outstanding_balance,
                   r.relief, r.relief_start, r.relief_end,
                   CASE WHEN r.kind = 'loan' THEN r.id END AS loan_id
            FROM sharing_recordidentifier ri
            JOIN sharing_record r ON r.id = ri.record_id
            WHERE ri.token = t.token AND r.status IN ('active', 'disputed') AND r.resolved_date IS NULL
            OFFSET 0  -- a fence: the planner may not flatten this into a join over whole tables
        ) f
        GROUP BY t.token, f.member_id, f.kind, f.category, f.event_date, f.loan_id
    ),
    truth AS (
        SELECT token,
               coalesce(array_agg(DISTINCT member_id ORDER BY member_id)
                        FILTER (WHERE kind <> 'loan'), '{}') AS member_ids,
               coalesce(array_agg(DISTINCT category ORDER BY category)
                        FILTER (WHERE kind = 'blacklist'), '{}') AS blacklist_categories,
               (max(last_reported) FILTER (WHERE kind = 'blacklist'))::date AS blacklist_last_reported,
               count(*) FILTER (WHERE kind = 'delinquency') AS active_delinquencies,
               coalesce(max(overdue_days) FILTER (WHERE kind = 'delinquency'), 0) AS max_overdue_days,
               coalesce(sum(overdue_amount) FILTER (WHERE kind = 'delinquency'), 0) AS total_overdue_amount,
               max(event_date) FILTER (WHERE kind = 'delinquency') AS latest_delinquency_date,
               -- Of the adverse reports; of the loans when there are none.
               coalesce(min(first_reported) FILTER (WHERE kind <> 'loan'), min(first_reported)) AS first_reported,
               coalesce(max(last_reported) FILTER (WHERE kind <> 'loan'), max(last_reported)) AS last_reported,
               count(DISTINCT member_id) FILTER (WHERE kind = 'loan') AS loan_lenders,
               count(*) FILTER (WHERE kind = 'loan') AS open_loans,
               coalesce(sum(credit_limit) FILTER (WHERE kind = 'loan'), 0) AS total_credit_limit,
               coalesce(sum(outstanding_balance) FILTER (WHERE kind = 'loan'), 0) AS total_outstanding,
               max(event_date) FILTER (WHERE kind = 'loan') AS latest_loan_opened,
               coalesce(array_agg(member_id ORDER BY member_id, loan_id)
                        FILTER (WHERE kind = 'loan'), '{}') AS loan_member_ids,
               coalesce(array_agg(outstanding_balance ORDER BY member_id, loan_id)
                        FILTER (WHERE kind = 'loan'), '{}') AS loan_outstanding,
               -- In time order (not parallel to the two above): a lookup counts the stale ones with
               -- width_bucket, a binary search, instead of unnesting the array.
               coalesce(array_agg(last_reported ORDER BY last_reported)
                        FILTER (WHERE kind = 'loan'), '{}') AS loan_reported,
               -- NULL when none (TokenSummary says why).
               array_agg(DISTINCT member_id ORDER BY member_id) FILTER (WHERE relief IS NOT NULL) AS relief_member_ids,
               min(relief_start) AS relief_since,
               array_agg(DISTINCT relief ORDER BY relief) FILTER (WHERE relief IS NOT NULL) AS relief_kinds,
               NULLIF(count(*) FILTER (WHERE kind = 'delinquency' AND relief IS NOT NULL), 0) AS relief_delinquencies,
               bool_or(disputed) AS disputed,
               token IN (SELECT token FROM stated) AS statement
        FROM facts GROUP BY token
    )
"""

_SUMMARY_COLUMNS = (
    "member_ids, blacklist_categories, blacklist_last_reported, active_delinquencies, max_overdue_days, "
    "total_overdue_amount, latest_delinquency_date, first_reported, last_reported, disputed, statement, "
    "loan_lenders, open_loans, total_credit_limit, total_outstanding, latest_loan_opened, loan_member_ids, "
    "loan_outstanding, loan_reported, relief_member_ids, relief_since, relief_kinds, relief_delinquencies"
)

_SUMMARY_WRITE = f"""
    upserted AS (
        INSERT INTO sharing_tokensummary (token, {_SUMMARY_COLUMNS}, updated_at)
        SELECT token, {_SUMMARY_COLUMNS}, %(now)s FROM truth
        ON CONFLICT (token) DO UPDATE SET
            member_ids = EXCLUDED.member_ids,
            blacklist_categories = EXCLUDED.blacklist_categories,
            blacklist_last_reported = EXCLUDED.blacklist_last_reported,
            active_delinquencies = EXCLUDED.active_delinquencies,
            max_overdue_days = EXCLUDED.max_overdue_days,
            total_overdue_amount = EXCLUDED.total_overdue_amount,
            latest_delinquency_date = EXCLUDED.latest_delinquency_date,
            first_reported = EXCLUDED.first_reported,
            last_reported = EXCLUDED.last_reported,
            disputed = EXCLUDED.disputed,
            statement = EXCLUDED.statement,
            loan_lenders = EXCLUDED.loan_lenders,
            open_loans = EXCLUDED.open_loans,
            total_credit_limit = EXCLUDED.total_credit_limit,
            total_outstanding = EXCLUDED.total_outstanding,
            latest_loan_opened = EXCLUDED.latest_loan_opened,
            loan_member_ids = EXCLUDED.loan_member_ids,
            loan_outstanding = EXCLUDED.loan_outstanding,
            loan_reported = EXCLUDED.loan_reported,
            relief_member_ids = EXCLUDED.relief_member_ids,
            relief_since = EXCLUDED.relief_since,
            relief_kinds = EXCLUDED.relief_kinds,
            relief_delinquencies = EXCLUDED.relief_delinquencies,
            updated_at = EXCLUDED.updated_at
        RETURNING 1
    ),
    removed AS (
        DELETE FROM sharing_tokensummary s {{removed}}
        RETURNING 1
    )
"""

_REMOVED_OF_TARGETS = (
    "USING targets t WHERE s.token = t.token AND NOT EXISTS (SELECT 1 FROM truth WHERE truth.token = t.token)"
)
_REMOVED_LISTED = (
    "WHERE s.token = ANY(%(listed)s::bytea[]) AND NOT EXISTS (SELECT 1 FROM truth WHERE truth.token = s.token)"
)

_DRAIN_SQL = f"""
    WITH targets AS (
        -- By token, without FOR UPDATE SKIP LOCKED: a drain holds every range's lock, so no other drain reads
        -- the queue meanwhile, and on Citus the queue is sharded (FOR UPDATE across shards is refused; a ctid
        -- names a row of one shard). "= ANY(ARRAY(…))" probes the key once a token; "IN (SELECT …)" hashed the
        -- chunk and scanned the whole queue (137 ms a 20,000-token chunk of 500,000 queued, against 64 ms; by
        -- ctid it was 15 ms, of a chunk's recomputation that takes seconds).
        DELETE FROM sharing_dirtytoken
        WHERE token = ANY(ARRAY(SELECT token FROM sharing_dirtytoken LIMIT %(limit)s))
        RETURNING token
    ),
    {_SUMMARY_SELECT},
    {_SUMMARY_WRITE.replace("{removed}", _REMOVED_OF_TARGETS)}
    SELECT (SELECT count(*) FROM targets)
"""

# The tokens travel as one buffer (sharing.tokens.pepper.TOKEN_AT_N).
# The summaries to delete are also named as values (%(listed)s, the buffer's tokens as an array): on a Citus
# cluster the delete then goes to the shards holding them, where "USING targets" sent it to every shard,
# ~0.5 s a chunk whatever its size (measured on the test cluster: a 12-token chunk's refresh took 500 ms).
_REFRESH_SQL = f"""
    WITH targets AS (
        SELECT DISTINCT {TOKEN_AT_N} AS token FROM generate_series(0, length(%(tokens)s::bytea) / 32 - 1) n
    ),
    {_SUMMARY_SELECT},
    {_SUMMARY_WRITE.replace("{removed}", _REMOVED_LISTED)}
    SELECT (SELECT count(*) FROM targets)
"""


# token_range in SQL, with MATCHING_RANGES as %(ranges)s.
_TOKEN_RANGE_SQL = "get_byte(token, 0) * %(ranges)s / 256"  # noqa: S105 - SQL, not a secret

# The distinct tokens of a batch's records, each record's found by index (the plan cannot turn into
# a scan of every identifier when statistics lag behind a bulk load).
# Per range, one buffer of the range's tokens in order.
_BATCH_TOKENS_SQL = f"""
    SELECT {_TOKEN_RANGE_SQL}, string_agg(token, ''::bytea ORDER BY token)
    FROM (
        SELECT DISTINCT ri.token
        FROM sharing_record r
        CROSS JOIN LATERAL (
            SELECT token FROM sharing_recordidentifier WHERE record_id = r.id OFFSET 0
        ) ri
        WHERE r.batch_id = %(batch)s
    ) batch_tokens
    GROUP BY 1
"""

MATCHING_RANGES = 8
# Arbitrary fixed first key of the advisory locks that serialize recomputation per range of tokens.
_MATCHING_LOCK_CLASS = 731_422_700


def token_range(token: bytes) -> int:
    # Contiguous slices of the key space. _TOKEN_RANGE_SQL is the same in SQL (tested over every first byte).
    return token[0] * MATCHING_RANGES >> 8


def _matching_lock(ranges: Iterable[int] | None = None) -> None:
    """Lock these ranges of tokens (all of them by default) until the transaction ends, in ascending order."""
    ranges = sorted(set(range(MATCHING_RANGES) if ranges is None else ranges))
    with connection.cursor() as cursor:
        # unnest keeps the array's order: the locks are taken lowest first.
        cursor.execute(
            "SELECT count(pg_advisory_xact_lock(%s, r)) FROM unnest(%s::integer[]) AS r", [_MATCHING_LOCK_CLASS, ranges]
        )
    _matching_settings()


def _matching_settings() -> None:
    with connection.cursor() as cursor:
        # The per-fact sort of a 20,000-token chunk spills to disk at the default 4 MB.
        cursor.execute("SET LOCAL work_mem = '64MB'")
        # Without statistics (a table just loaded) the planner's cost for a chunk passes jit_above_cost,
        # and compiling took 466 of a 10,000-record chunk's 1,225 ms; these are index probes, JIT never pays.
        cursor.execute("SET LOCAL jit = off")


def tokens_mark_dirty(tokens: list[bytes]) -> None:
    """Queue tokens for recomputation (in the caller's transaction). Sorted, so concurrent writers lock in one order."""
    if not tokens:
        return
    execute_binary(
        "INSERT INTO sharing_dirtytoken (token, queued_at) "
        "SELECT DISTINCT t, %s::timestamptz FROM unnest(%s::bytea[]) AS t ORDER BY t ON CONFLICT DO NOTHING",
        [timezone.now(), tokens],
    )


def batch_match(batch_id: int, *, chunk_tokens: int | None = None) -> int:
    """Recompute the summaries of every token of the records this batch wrote: one committed chunk at a
    time, each within one range of tokens, so that another worker's job can work on another range.

    Records a later batch has changed since carry that batch's id; its own job covers them.
    Returns the number of tokens recomputed.
    """
    chunk = (chunk_tokens or settings.RISKSHARE_MATCH_CHUNK) * 32
    with transaction.atomic():
        _matching_settings()  # JIT compiled this read for 119 of its 172 ms
        by_range = dict(execute_binary(_BATCH_TOKENS_SQL, {"ranges": MATCHING_RANGES, "batch": batch_id}, fetch=True))
    # Each batch starts at its own range, so two workers' jobs seldom queue behind each other for one.
    for tokens_range in sorted(by_range, key=lambda number: (number - batch_id) % MATCHING_RANGES):
        tokens = by_range[tokens_range]
        for start in range(0, len(tokens), chunk):
            with transaction.atomic():
                _matching_lock([tokens_range])
                _refresh(tokens[start : start + chunk])
                # Under the same lock and in the same transaction: the watches' events come exactly once
                # (receivers: sharing.monitoring.receivers).
                summaries_recomputed.send(sender=None, tokens=tokens[start : start + chunk])
    return sum(len(tokens) for tokens in by_range.values()) // 32


def _refresh(tokens: bytes) -> None:
    listed = [tokens[at : at + 32] for at in range(0, len(tokens), 32)]
    execute_binary(_REFRESH_SQL, {"tokens": tokens, "listed": listed, "now": timezone.now()})


def summaries_refresh(tokens: list[bytes]) -> None:
    """Recompute the summaries of these tokens now, in the caller's transaction (resolve, retract).

    Waits for a running matching chunk (the advisory lock), so it never races one.
    """
    if not tokens:
        return
    _matching_lock(token_range(token) for token in tokens)
    _refresh(b"".join(tokens))
    summaries_recomputed.send(sender=None, tokens=b"".join(tokens))


def dirty_tokens_drain(*, chunk: int | None = None, max_chunks: int | None = None) -> int:
    """Recompute queued summaries, one committed chunk at a time, until the queue is empty.

    Returns the number of tokens recomputed. Safe to run in several workers at
    once (each chunk holds every range's lock) and to kill at any point.
    """
    chunk = chunk or settings.RISKSHARE_MATCH_CHUNK
    total = 0
    chunks = 0
    while max_chunks is None or chunks < max_chunks:
        # Every batch's job ends here, mostly with nothing queued: then it must not wait for all the
        # ranges (another worker's job holds one). A token queued after this look waits for the next drain.
        with connection.cursor() as cursor:
            cursor.execute("SELECT EXISTS (SELECT 1 FROM sharing_dirtytoken)")
            if not cursor.fetchone()[0]:
                break
        with transaction.atomic():
            _matching_lock()
            with connection.cursor() as cursor:
                cursor.execute(_DRAIN_SQL, {"limit": chunk, "now": timezone.now()})
                drained = cursor.fetchone()[0]
        total += drained
        chunks += 1
        if drained == 0:
            break
    return total


def dirty_tokens_pending() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM sharing_dirtytoken")
        return cursor.fetchone()[0]


@dataclass(frozen=True)
class DriftReport:
    checked: int
    missing: int  # a token with active records but no summary
    stale: int  # a summary that differs from the records
    orphaned: int  # a summary for a token with no active record
    fixed: bool

    @property
    def drift(self) -> int:
        return self.missing + self.stale + self.orphaned


# Every token with an identifier, against every summary.
_FULL_TARGETS = "SELECT DISTINCT token FROM sharing_recordidentifier"
# The tokens of records changed since the last check (each member's through its (member, updated_at) index),
# and one slice of all summaries by their tokens' first two bytes (the primary key's range).
_NIGHTLY_TARGETS = """
    SELECT token FROM sharing_tokensummary
    WHERE token >= %(slice_from)s AND (%(slice_to)s::bytea IS NULL OR token < %(slice_to)s::bytea)
    UNION
    SELECT ri.token FROM members_institution m
    CROSS JOIN LATERAL (
        SELECT r.id FROM sharing_record r WHERE r.member_id = m.id AND r.updated_at >= %(since)s OFFSET 0
    ) r
    JOIN sharing_recordidentifier ri ON ri.record_id = r.id
"""
_NIGHTLY_SUMMARIES = "(SELECT s.* FROM sharing_tokensummary s JOIN targets t ON t.token = s.token)"

_DRIFT_SQL = """
    WITH targets AS MATERIALIZED ({targets}),
    {summary_select}
    SELECT coalesce(truth.token, s.token),
           CASE WHEN s.token IS NULL THEN 'missing'
                WHEN truth.token IS NULL THEN 'orphaned'
                ELSE 'stale' END
    FROM truth FULL OUTER JOIN {summaries} s ON s.token = truth.token
    WHERE s.token IS NULL OR truth.token IS NULL
       OR (s.member_ids, s.blacklist_categories, s.blacklist_last_reported, s.active_delinquencies,
           s.max_overdue_days, s.total_overdue_amount, s.latest_delinquency_date, s.first_reported,
           s.last_reported, s.disputed, s.statement, s.loan_lenders, s.open_loans, s.total_credit_limit,
           s.total_outstanding, s.latest_loan_opened, s.loan_member_ids, s.loan_outstanding, s.loan_reported,
           s.relief_member_ids, s.relief_since, s.relief_kinds, s.relief_delinquencies)
          IS DISTINCT FROM
          (truth.member_ids, truth.blacklist_categories::varchar[], truth.blacklist_last_reported,
           truth.active_delinquencies::integer, truth.max_overdue_days::integer, truth.total_overdue_amount,
           truth.latest_delinquency_date, truth.first_reported, truth.last_reported, truth.disputed,
           truth.statement, truth.loan_lenders::integer, truth.open_loans::integer, truth.total_credit_limit,
           truth.total_outstanding, truth.latest_loan_opened, truth.loan_member_ids, truth.loan_outstanding,
           truth.loan_reported, truth.relief_member_ids, truth.relief_since, truth.relief_kinds::varchar[],
           truth.relief_delinquencies::integer)
    UNION ALL SELECT NULL, (SELECT count(*) FROM targets)::text
"""


def _drift_sql(targets: str, summaries: str) -> str:
    # replace, not format: the summary's SQL holds braces of its own ('{}' arrays).
    return (
        _DRIFT_SQL.replace("{targets}", targets)
        .replace("{summary_select}", _SUMMARY_SELECT)
        .replace("{summaries}", summaries)
    )


def _slice_bounds(number: int, slices: int) -> tuple[bytes, bytes | None]:
    """Slice ``number`` of ``slices`` of the token space, by the tokens' first two bytes."""
    start = (number * 65536 // slices).to_bytes(2, "big")
    end = None if number == slices - 1 else ((number + 1) * 65536 // slices).to_bytes(2, "big")
    return start, end


def summaries_drift_check(*, fix: bool, full: bool = True) -> DriftReport:
    """Recompute summaries from the records and compare; with ``fix``, repair what differs.

    ``full`` (the default, and the first check ever): every token. Nightly (``full=False``): the tokens of
    records changed since the last check began, and the next of ``RISKSHARE_SUMMARY_CHECK_SLICES`` slices of
    all summaries, in turn, so that every summary is recomputed at least once in that many nights; its cost
    follows what changed and the slice, not the stock. A summary missing for a token nobody changed since is
    found by the full check only. Each run is recorded (``SummaryCheck``); the next starts from it.
    """
    started = timezone.now()
    slices = settings.RISKSHARE_SUMMARY_CHECK_SLICES
    last = SummaryCheck.objects.order_by("-started_at", "-pk").first()
    full = full or last is None
    number = slices - 1 if full else (last.slice + 1) % slices if last.slices == slices else 0
    params: dict | None = None
    if full:
        sql = _drift_sql(_FULL_TARGETS, "sharing_tokensummary")
    else:
        sql = _drift_sql(_NIGHTLY_TARGETS, _NIGHTLY_SUMMARIES)
        slice_from, slice_to = _slice_bounds(number, slices)
        params = {"slice_from": slice_from, "slice_to": slice_to, "since": last.started_at}
    with transaction.atomic(), connection.cursor() as cursor:
        _matching_settings()
        if full:
            cursor.execute("SELECT count(*) FROM sharing_tokensummary")
            checked = cursor.fetchone()[0]
        cursor.execute(sql, params)
        rows = cursor.fetchall()
        counts = {"missing": 0, "stale": 0, "orphaned": 0}
        drifted = []
        for token, kind in rows:
            if token is None:
                checked = checked if full else int(kind)
                continue
            counts[kind] += 1
            drifted.append(bytes(token))
        if fix and drifted:
            summaries_refresh(drifted)
        SummaryCheck.objects.create(
            started_at=started,
            full=full,
            touched_since=None if full else last.started_at,
            slice=number,
            slices=slices,
            checked=checked,
            **counts,
        )
    report = DriftReport(checked=checked, fixed=fix and bool(drifted), **counts)
    if report.drift:
        logger.error("Summary drift: %s", report)
    return report
