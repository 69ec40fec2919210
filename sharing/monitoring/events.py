"""Monitoring events: what other members' changes mean for a member's watches, produced set-based.

The matching jobs call ``watch_events_produce`` with the tokens of every chunk they recompute, in the
chunk's transaction (after the records it reads are settled by the range lock); disputes call
``dispute_events_produce``; a periodic job calls ``inquiry_events_produce``. Every event names the
fact it tells (``fact``), and ``(watch, fact)`` is unique: a re-run job, a re-sent batch or a job
whose worker was killed inserts nothing twice (ON CONFLICT DO NOTHING, never a check first).

Event ids are the feed's cursor, so they must be taken in commit order: an event with a smaller id
committing after one with a larger id would be skipped by a member that already polled past it. Each
transaction that inserts events therefore first takes one transaction-scoped advisory lock, held to
its commit; ids are drawn after it. Only transactions that do have events to insert take it, last,
after their range locks, so lockers never deadlock.

Events never name the reporting member, and never concern the watching member's own records.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import orjson
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from core.clock import business_today
from core.jobs import job_enqueue
from core.sql import execute_binary
from sharing.tokens.pepper import TOKEN_AT_N

# Arbitrary fixed keys of the advisory lock that puts event ids in commit order.
_EVENTS_LOCK = (731_422_722, 0)

INQUIRY_LEVELS = (3, 5, 10)
MAX_DELIVERY_JOBS = 4
INQUIRY_WINDOW_DAYS = 30
# The inquiries job looks this far back each run (it runs every minute): runs overlap, facts are unique.
INQUIRY_SCAN_MINUTES = 10

_BUCKET = "CASE WHEN {d} >= 180 THEN 180 WHEN {d} >= 90 THEN 90 WHEN {d} >= 60 THEN 60 WHEN {d} >= 30 THEN 30 END"

# The watch tokens of the chunk's tokens (``targets``), read first and alone: on a Citus cluster they are sharded
# by token while the watches and records are not, and Citus joins no local table with a sharded one
# (docs/design.md, "Distribution (Citus)"). On one PostgreSQL the same probes of the token index, once a token.
_WATCHED = """
    watched AS MATERIALIZED (
        SELECT wt.token, wt.watch_id, wt.id_type FROM targets t JOIN sharing_watchtoken wt ON wt.token = t.token
    )
"""

# Every (watch, record) where a watched token of another member's record is in the chunk; a watch that
# matches one record through two identifiers counts once, under its first identifier type.
_HITS = f"""
    targets AS (
        SELECT DISTINCT {TOKEN_AT_N} AS token FROM generate_series(0, length(%(tokens)s::bytea) / 32 - 1) n
    ),
    {_WATCHED},
    hits AS (
        SELECT DISTINCT ON (w.id, r.id)
               w.id AS watch_id, w.member_id, w.reference, w.created_at AS watch_created, wt.id_type,
               r.id AS record_id, r.kind, r.category, r.status, r.overdue_days, r.resolved_date, r.reported_at,
               r.created_at AS record_created, r.event_date, r.credit_limit, r.product,
               r.updated_at AS record_updated, r.relief, r.relief_start, r.relief_end, r.new_maturity_date
        FROM watched wt
        JOIN sharing_watch w ON w.id = wt.watch_id AND w.expires_on >= %(today)s
        JOIN sharing_recordidentifier ri ON ri.token = wt.token
        JOIN sharing_record r ON r.id = ri.record_id AND r.member_id <> w.member_id
        ORDER BY w.id, r.id, wt.id_type
    )
"""  # noqa: S608 - only fixed SQL is formatted in

# The chunk's tokens that some watch holds, as one buffer (NULL when none): the statements below then
# look at those only, a tenth of a chunk or less, instead of probing every token three times more. A join,
# not EXISTS: on a Citus cluster the watch tokens are sharded by token, and Citus plans no correlated subquery
# on a sharded table; one probe of the hash index a token either way. Never "token = ANY(array)" on this
# table: a hash index rechecks each row found against the whole array (6.5 s instead of 0.2 for 20,000).
_WATCHED_TOKENS = f"""
    SELECT string_agg(DISTINCT wt.token, ''::bytea)
    FROM (SELECT {TOKEN_AT_N} AS token FROM generate_series(0, length(%(tokens)s::bytea) / 32 - 1) n) t
    JOIN sharing_watchtoken wt ON wt.token = t.token
"""  # noqa: S608

_INSERT = """
    INSERT INTO sharing_monitoringevent
        (member_id, watch_id, watch_reference, type, identifier_type, data, fact, record_id, created_at)
"""

# Endpoint deliveries for the events an INSERT … RETURNING id, member_id, type named ``inserted`` wrote.
_FAN_OUT = """
    deliveries AS (
        INSERT INTO sharing_webhookdelivery
            (endpoint_id, event_id, message_id, status, attempts, next_attempt_at, created_at, last_error)
        SELECT ep.id, i.id, 'evt_' || i.id, 'pending', 0, %(now)s, %(now)s, ''
        FROM inserted i
        JOIN sharing_webhookendpoint ep
          ON ep.member_id = i.member_id AND ep.deleted_at IS NULL AND ep.status <> 'disabled'
         AND (cardinality(ep.types) = 0 OR i.type = ANY(ep.types))
        ON CONFLICT DO NOTHING
        RETURNING 1
    )
    SELECT (SELECT count(*) FROM inserted), (SELECT count(*) FROM deliveries)
"""

# A new active record of another member, reported since the watch began.
_REPORTED_SQL = f"""
    WITH {_HITS},
    inserted AS (
        {_INSERT}
        SELECT member_id, watch_id, reference, 'record.reported', id_type,
               jsonb_strip_nulls(jsonb_build_object('kind', kind, 'category', category,
                                                    'overdue_days', overdue_days,
                                                    'relief', CASE WHEN relief_end IS NULL
                                                                   THEN NULLIF(relief, '') END)),
               'reported:' || record_id, record_id, %(now)s
        FROM hits
        WHERE status IN ('active', 'disputed') AND resolved_date IS NULL AND reported_at >= watch_created
          AND kind <> 'loan'  -- loans are exposure: loan.opened, exposure.increased
        ORDER BY watch_id, record_id
        ON CONFLICT (watch_id, fact) DO NOTHING
        RETURNING id, member_id, type
    ),
    {_FAN_OUT}
"""  # noqa: S608

# The days of a delinquency's overdue_days that fell inside an agreed deferral: the overlap of the overdue
# stretch [reported day - overdue_days, reported day] with the deferral [relief_start, relief_end or the
# reported day]. A deferral postpones payments, so those days are not an escalating default.
_DEFERRED_DAYS = """
    CASE WHEN h.relief = 'deferral' THEN greatest(0, least(
        h.overdue_days,
        least(coalesce(h.relief_end, {reported}), {reported})
            - greatest(h.relief_start, {reported} - h.overdue_days)))
    ELSE 0 END
""".format(reported="(h.reported_at AT TIME ZONE %(zone)s)::date")

# A record behind an earlier event crossed a higher bucket of overdue days than any event told of, its
# days under an agreed deferral left out.
_ESCALATED_SQL = f"""
    WITH {_HITS},
    counted AS (
        SELECT h.*, {_DEFERRED_DAYS} AS deferred_days FROM hits h
        WHERE h.kind = 'delinquency' AND h.status IN ('active', 'disputed') AND h.resolved_date IS NULL
          AND h.overdue_days >= 30
    ),
    told AS (
        SELECT h.watch_id, h.record_id, h.member_id, h.reference, h.id_type, h.overdue_days, h.deferred_days,
               {_BUCKET.format(d="(h.overdue_days - h.deferred_days)")} AS bucket,
               (SELECT max(CASE WHEN e.type = 'delinquency.escalated' THEN (e.data->>'bucket')::int
                                ELSE coalesce({_BUCKET.format(d="(e.data->>'overdue_days')::int")}, 0) END)
                FROM sharing_monitoringevent e
                WHERE e.watch_id = h.watch_id AND e.record_id = h.record_id
                  AND e.type IN ('record.reported', 'delinquency.escalated')) AS told_bucket
        FROM counted h
    ),
    inserted AS (
        {_INSERT}
        SELECT member_id, watch_id, reference, 'delinquency.escalated', id_type,
               jsonb_strip_nulls(jsonb_build_object('bucket', bucket, 'overdue_days', overdue_days,
                                                    'deferred_days', NULLIF(deferred_days, 0))),
               'escalated:' || record_id || ':' || bucket, record_id, %(now)s
        FROM told
        WHERE told_bucket IS NOT NULL AND bucket > told_bucket
        ORDER BY watch_id, record_id
        ON CONFLICT (watch_id, fact) DO NOTHING
        RETURNING id, member_id, type
    ),
    {_FAN_OUT}
"""  # noqa: S608

# A record that produced an event for the watch was resolved, retracted, or corrected through a dispute.
_ENDED_SQL = f"""
    WITH {_HITS},
    inserted AS (
        {_INSERT}
        SELECT h.member_id, h.watch_id, h.reference, 'record.ended', h.id_type,
               jsonb_build_object(
                   'kind', h.kind, 'category', h.category,
                   'how', CASE WHEN EXISTS (SELECT 1 FROM sharing_disputedrecord dr
                                            JOIN sharing_dispute d ON d.id = dr.dispute_id
                                            WHERE dr.record_id = h.record_id AND d.status = 'corrected')
                               THEN 'corrected'
                               WHEN h.status = 'retracted' THEN 'retracted' ELSE 'resolved' END),
               'ended:' || h.record_id, h.record_id, %(now)s
        FROM hits h
        WHERE (h.status IN ('resolved', 'retracted') OR h.resolved_date IS NOT NULL)
          AND EXISTS (SELECT 1 FROM sharing_monitoringevent e
                      WHERE e.watch_id = h.watch_id AND e.record_id = h.record_id)
        ORDER BY h.watch_id, h.record_id
        ON CONFLICT (watch_id, fact) DO NOTHING
        RETURNING id, member_id, type
    ),
    {_FAN_OUT}
"""  # noqa: S608


# Another lender's new open loan: first reported since the watch began, opened at most the stale window
# (the reporting cadence) before it; the monthly re-sends of a loan are the same fact.
_LOAN_OPENED_SQL = f"""
    WITH {_HITS},
    inserted AS (
        {_INSERT}
        SELECT member_id, watch_id, reference, 'loan.opened', id_type,
               jsonb_build_object('credit_limit', credit_limit::text, 'product', product),
               'loan:' || record_id, record_id, %(now)s
        FROM hits
        WHERE kind = 'loan' AND status IN ('active', 'disputed') AND resolved_date IS NULL
          AND record_created >= watch_created AND event_date >= watch_created::date - %(stale_days)s::int
        ORDER BY watch_id, record_id
        ON CONFLICT (watch_id, fact) DO NOTHING
        RETURNING id, member_id, type
    ),
    {_FAN_OUT}
"""  # noqa: S608

# The outstanding total of other lenders' open loans on any of a watch's tokens (each loan once) rose by
# EXPOSURE_RISE and EXPOSURE_RISE_MIN since the last exposure.increased of the watch; before the first,
# since the exposure the member could see when it began watching (the loans first reported before the
# watch, at their balances now). The fact is the new total: a re-run finds it told and tells nothing.
_EXPOSURE_SQL = f"""
    WITH targets AS (
        SELECT DISTINCT {TOKEN_AT_N} AS token FROM generate_series(0, length(%(tokens)s::bytea) / 32 - 1) n
    ),
    {_WATCHED},
    watches AS MATERIALIZED (
        SELECT DISTINCT ON (w.id) w.id AS watch_id, w.member_id, w.reference, w.created_at, wt.id_type
        FROM watched wt
        JOIN sharing_watch w ON w.id = wt.watch_id AND w.expires_on >= %(today)s
        ORDER BY w.id, wt.id_type
    ),
    watch_tokens AS MATERIALIZED (
        -- Every token of those watches, by watch id (sharded on a Citus cluster: read alone, as above).
        SELECT watch_id, token FROM sharing_watchtoken WHERE watch_id = ANY(ARRAY(SELECT watch_id FROM watches))
    ),
    loans AS (
        SELECT DISTINCT w.watch_id, r.id, r.member_id, r.outstanding_balance, r.created_at < w.created_at AS before
        FROM watches w
        JOIN watch_tokens wt ON wt.watch_id = w.watch_id
        JOIN sharing_recordidentifier ri ON ri.token = wt.token
        JOIN sharing_record r ON r.id = ri.record_id
        WHERE r.kind = 'loan' AND r.status IN ('active', 'disputed') AND r.resolved_date IS NULL
          AND r.member_id <> w.member_id
    ),
    totals AS (
        SELECT w.watch_id, w.member_id, w.reference, w.id_type,
               coalesce(sum(l.outstanding_balance), 0) AS total,
               count(l.id) AS open_loans, count(DISTINCT l.member_id) AS lenders,
               coalesce((SELECT (e.data->>'total_outstanding')::numeric FROM sharing_monitoringevent e
                         WHERE e.watch_id = w.watch_id AND e.type = 'exposure.increased'
                         ORDER BY e.id DESC LIMIT 1),
                        coalesce(sum(l.outstanding_balance) FILTER (WHERE l.before), 0)) AS previous
        FROM watches w LEFT JOIN loans l ON l.watch_id = w.watch_id
        GROUP BY w.watch_id, w.member_id, w.reference, w.id_type
    ),
    inserted AS (
        {_INSERT}
        SELECT member_id, watch_id, reference, 'exposure.increased', id_type,
               jsonb_build_object('total_outstanding', total::text, 'previous', previous::text,
                                  'open_loans', open_loans, 'lenders', lenders),
               'exposure:' || total::text, NULL, %(now)s
        FROM totals
        WHERE total >= previous * %(rise)s AND total - previous >= %(rise_min)s
        ORDER BY watch_id
        ON CONFLICT (watch_id, fact) DO NOTHING
        RETURNING id, member_id, type
    ),
    {_FAN_OUT}
"""  # noqa: S608

# Another member's relief arrangement on a loan or delinquency of a watched person: reported or changed since
# the watch began, and begun at most the stale window (the reporting cadence) before it. One fact per
# arrangement (its record and start).
_RELIEF_STARTED_SQL = f"""
    WITH {_HITS},
    inserted AS (
        {_INSERT}
        SELECT member_id, watch_id, reference, 'relief.started', id_type,
               jsonb_strip_nulls(jsonb_build_object('kind', kind, 'relief', relief, 'start', relief_start,
                                                    'new_maturity_date', new_maturity_date)),
               'relief:' || record_id || ':' || relief_start, record_id, %(now)s
        FROM hits
        WHERE relief <> '' AND relief_end IS NULL AND status IN ('active', 'disputed') AND resolved_date IS NULL
          AND record_updated >= watch_created AND relief_start >= watch_created::date - %(stale_days)s::int
        ORDER BY watch_id, record_id
        ON CONFLICT (watch_id, fact) DO NOTHING
        RETURNING id, member_id, type
    ),
    {_FAN_OUT}
"""  # noqa: S608

# An arrangement told by relief.started no longer runs: its relief_end was reported (ended), its record was
# resolved (closed) or retracted, or the record was re-sent without it (withdrawn).
_RELIEF_ENDED_SQL = f"""
    WITH {_HITS},
    started AS (
        SELECT h.*, e.data->>'relief' AS told_relief, e.data->>'start' AS told_start,
               CASE WHEN h.status = 'retracted' THEN 'retracted'
                    WHEN h.status = 'resolved' OR h.resolved_date IS NOT NULL THEN 'closed'
                    WHEN h.relief_start::text = e.data->>'start' AND h.relief_end IS NOT NULL THEN 'ended'
                    WHEN h.relief_start::text = e.data->>'start' AND h.relief <> '' THEN NULL
                    ELSE 'withdrawn' END AS how
        FROM hits h
        JOIN sharing_monitoringevent e
          ON e.watch_id = h.watch_id AND e.record_id = h.record_id AND e.type = 'relief.started'
    ),
    inserted AS (
        {_INSERT}
        SELECT member_id, watch_id, reference, 'relief.ended', id_type,
               jsonb_strip_nulls(jsonb_build_object(
                   'kind', kind, 'relief', told_relief, 'start', told_start, 'how', how,
                   'end', CASE how WHEN 'ended' THEN relief_end WHEN 'closed' THEN resolved_date END)),
               'relief-ended:' || record_id || ':' || told_start, record_id, %(now)s
        FROM started
        WHERE how IS NOT NULL
        ORDER BY watch_id, record_id
        ON CONFLICT (watch_id, fact) DO NOTHING
        RETURNING id, member_id, type
    ),
    {_FAN_OUT}
"""  # noqa: S608

EXPOSURE_RISE = Decimal("1.2")
EXPOSURE_RISE_MIN = Decimal("10000")


def _events_lock() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", list(_EVENTS_LOCK))


def deliveries_enqueue(deliveries: int) -> None:
    """After commit, enough delivery jobs for the workers to share the rows (each job claims its own)."""
    if deliveries:
        jobs = min(MAX_DELIVERY_JOBS, 1 + deliveries // 500)

        def enqueue() -> None:
            # The delivery rows are the truth; the webhook sweep re-enqueues if these messages are lost.
            for _ in range(jobs):
                job_enqueue("sharing.webhooks_deliver")

        transaction.on_commit(enqueue)


def watch_events_produce(tokens: bytes, *, now: dt.datetime | None = None) -> int:
    """Events for the watches on these tokens (32 bytes each), in the caller's transaction. Returns how many."""
    if not tokens:
        return 0
    watched = execute_binary(_WATCHED_TOKENS, {"tokens": tokens}, fetch=True)[0][0]
    if not watched:
        return 0
    params = {
        "tokens": bytes(watched),
        "today": business_today(),
        "now": now or timezone.now(),
        "stale_days": settings.RISKSHARE_EXPOSURE_STALE_DAYS,
        "rise": EXPOSURE_RISE,
        "rise_min": EXPOSURE_RISE_MIN,
        "zone": settings.TIME_ZONE,
    }
    _events_lock()
    events = deliveries = 0
    statements = (
        _REPORTED_SQL,
        _ESCALATED_SQL,
        _ENDED_SQL,
        _LOAN_OPENED_SQL,
        _EXPOSURE_SQL,
        _RELIEF_STARTED_SQL,
        _RELIEF_ENDED_SQL,
    )
    for sql in statements:
        ((inserted, fanned),) = execute_binary(sql, params, fetch=True)
        events += inserted
        deliveries += fanned
    deliveries_enqueue(deliveries)
    return events


# A dispute on records behind watched tokens: one event per watch and dispute.
_DISPUTE_SQL = f"""
    WITH disputed AS MATERIALIZED (
        -- The disputed records' tokens, then the watch tokens by them, each read alone: on a Citus cluster the
        -- watch tokens are sharded by token, the records and watches are not, and Citus joins no local table
        -- with a sharded one (docs/design.md, "Distribution (Citus)"). Index probes on one PostgreSQL as before.
        SELECT ri.token, r.member_id AS owner
        FROM sharing_disputedrecord dr
        JOIN sharing_record r ON r.id = dr.record_id
        JOIN sharing_recordidentifier ri ON ri.record_id = r.id
        WHERE dr.dispute_id = %(dispute)s
    ),
    watched AS MATERIALIZED (
        SELECT wt.token, wt.watch_id, wt.id_type
        FROM (SELECT DISTINCT token FROM disputed) d JOIN sharing_watchtoken wt ON wt.token = d.token
    ),
    hits AS (
        SELECT DISTINCT ON (w.id) w.id AS watch_id, w.member_id, w.reference, wt.id_type
        FROM disputed d
        JOIN watched wt ON wt.token = d.token
        JOIN sharing_watch w ON w.id = wt.watch_id AND w.expires_on >= %(today)s AND w.member_id <> d.owner
        ORDER BY w.id, wt.id_type
    ),
    inserted AS (
        {_INSERT}
        SELECT member_id, watch_id, reference, %(type)s, id_type, %(data)s::jsonb,
               %(type)s || ':' || %(dispute)s, NULL, %(now)s
        FROM hits ORDER BY watch_id
        ON CONFLICT (watch_id, fact) DO NOTHING
        RETURNING id, member_id, type
    ),
    {_FAN_OUT}
"""  # noqa: S608


def dispute_events_produce(*, dispute_id: int, type: str, outcome: str | None = None) -> int:
    """``dispute.opened`` or ``dispute.settled`` for every other member's watch on the dispute's records."""
    _events_lock()
    data = orjson.dumps({} if outcome is None else {"outcome": outcome}).decode()
    params = {"dispute": dispute_id, "type": type, "data": data, "today": business_today(), "now": timezone.now()}
    ((inserted, deliveries),) = execute_binary(_DISPUTE_SQL, params, fetch=True)
    deliveries_enqueue(deliveries)
    return inserted


# A protective registration on watched tokens: one event per watch of another member than the registering one,
# saying since when (never by whom: the registering member is not named).
_AT_RISK_SQL = f"""
    WITH protected AS MATERIALIZED (
        -- Read first and alone, then the watch tokens by them: on a Citus cluster both are sharded by token
        -- (the registration and the watches are not), so each comes back as one small result that the rest
        -- joins on one node.
        SELECT token, registered_at FROM sharing_protectivetoken WHERE registration_id = %(registration)s
    ),
    watched AS MATERIALIZED (
        SELECT wt.token, wt.watch_id, wt.id_type FROM protected pt JOIN sharing_watchtoken wt ON wt.token = pt.token
    ),
    hits AS (
        SELECT DISTINCT ON (w.id) w.id AS watch_id, w.member_id, w.reference, wt.id_type, pt.registered_at
        FROM protected pt
        JOIN watched wt ON wt.token = pt.token
        JOIN sharing_watch w ON w.id = wt.watch_id AND w.expires_on >= %(today)s
             AND w.member_id IS DISTINCT FROM (
                 SELECT member_id FROM sharing_protectiveregistration WHERE id = %(registration)s)
        ORDER BY w.id, wt.id_type
    ),
    inserted AS (
        {_INSERT}
        SELECT member_id, watch_id, reference, 'identity.at_risk', id_type,
               jsonb_build_object('since', to_char(registered_at AT TIME ZONE %(zone)s, 'YYYY-MM-DD')),
               'at_risk:' || %(registration)s, NULL, %(now)s
        FROM hits ORDER BY watch_id
        ON CONFLICT (watch_id, fact) DO NOTHING
        RETURNING id, member_id, type
    ),
    {_FAN_OUT}
"""  # noqa: S608


def at_risk_events_produce(*, registration_id: int) -> int:
    """``identity.at_risk`` for every other member's watch on a new protective registration's tokens."""
    _events_lock()
    params = {
        "registration": registration_id,
        "today": business_today(),
        "now": timezone.now(),
        "zone": settings.TIME_ZONE,
    }
    ((inserted, deliveries),) = execute_binary(_AT_RISK_SQL, params, fetch=True)
    deliveries_enqueue(deliveries)
    return inserted


# Credit inquiries (credit_application, account_opening) by distinct other members on a watched token in
# the last 30 days; the highest level reached, once per 30 days (the period in the fact, and no event of
# that level or above in the last 30 days).
_INQUIRIES_SQL = f"""
    WITH credit_lookups AS MATERIALIZED (
        -- The recent credit lookups by their time, then their entries by lookup id: the entries have no index
        -- that starts with the time, and the log is the largest table. Each read alone (MATERIALIZED): on a
        -- Citus cluster the lookups stay on the coordinator while their entries are sharded by token, and
        -- Citus joins neither a local table nor a correlated subquery with a sharded one.
        SELECT id FROM sharing_lookup
        WHERE created_at >= %(scan_since)s AND purpose IN ('credit_application', 'account_opening')
    ),
    recent AS MATERIALIZED (
        SELECT DISTINCT token FROM sharing_lookupentry
        WHERE lookup_id = ANY(ARRAY(SELECT id FROM credit_lookups)) AND created_at >= %(scan_since)s
    ),
    watch_tokens AS MATERIALIZED (
        SELECT wt.token, wt.id_type, wt.watch_id FROM recent JOIN sharing_watchtoken wt ON wt.token = recent.token
    ),
    watched AS MATERIALIZED (
        SELECT wt.token, wt.id_type, w.id AS watch_id, w.member_id, w.reference
        FROM watch_tokens wt
        JOIN sharing_watch w ON w.id = wt.watch_id AND w.expires_on >= %(today)s
    ),
    asked AS MATERIALIZED (
        -- Who asked about a watched token in the window, each member once.
        SELECT DISTINCT token, member_id FROM sharing_lookupentry
        WHERE token = ANY(ARRAY(SELECT token FROM watched)) AND multi_lending AND created_at >= %(window_since)s
    ),
    counted AS (
        SELECT DISTINCT ON (w.watch_id) w.watch_id, w.member_id, w.reference, w.id_type,
               (SELECT count(*) FROM asked a WHERE a.token = w.token AND a.member_id <> w.member_id) AS members_30d
        FROM watched w
        ORDER BY w.watch_id, members_30d DESC, w.id_type
    ),
    levelled AS (
        SELECT c.*, (SELECT max(level) FROM unnest(%(levels)s::int[]) AS level WHERE level <= c.members_30d) AS level
        FROM counted c
    ),
    inserted AS (
        {_INSERT}
        SELECT l.member_id, l.watch_id, l.reference, 'inquiries.threshold', l.id_type,
               jsonb_build_object('members_30d', l.members_30d),
               'inquiries:' || l.level || ':' || %(period)s, NULL, %(now)s
        FROM levelled l
        WHERE l.level IS NOT NULL
          AND NOT EXISTS (SELECT 1 FROM sharing_monitoringevent e
                          WHERE e.watch_id = l.watch_id AND e.type = 'inquiries.threshold'
                            AND e.created_at >= %(window_since)s
                            AND split_part(e.fact, ':', 2)::int >= l.level)
        ORDER BY l.watch_id
        ON CONFLICT (watch_id, fact) DO NOTHING
        RETURNING id, member_id, type
    ),
    {_FAN_OUT}
"""  # noqa: S608


def inquiry_events_produce(*, now: dt.datetime | None = None) -> int:
    """``inquiries.threshold`` events for the watched tokens credit lookups touched lately (every minute)."""
    now = now or timezone.now()
    params = {
        "scan_since": now - dt.timedelta(minutes=INQUIRY_SCAN_MINUTES),
        "window_since": now - dt.timedelta(days=INQUIRY_WINDOW_DAYS),
        "levels": list(INQUIRY_LEVELS),
        "period": int(now.timestamp()) // 86_400 // INQUIRY_WINDOW_DAYS,
        "today": business_today(),
        "now": now,
    }
    with transaction.atomic():
        _events_lock()
        ((inserted, deliveries),) = execute_binary(_INQUIRIES_SQL, params, fetch=True)
        deliveries_enqueue(deliveries)
    return inserted
