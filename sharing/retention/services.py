"""Retention: adverse records five years after the adverse event ends, closed loans five years after
they closed (``RISKSHARE_LOAN_RETENTION_YEARS``; open loans never), retracted records after 90 days,
the lookup log after its configured period, and with it the daily counts of token evaluations; expired
watches 90 days after their expiry, monitoring events and webhook deliveries after ``RISKSHARE_MONITORING_EVENT_DAYS``.

The lookup log is partitioned by month and goes a month at a time, dropped whole once all of the month is
past its retention (``lookup_log_purge``): no row of it is deleted.

A record purge deletes the rows (record, identifiers, row history); a dispute keeps its link to the
purged record's id and reporting member (no content: what self-inspection reports count),
recomputes the summaries the records contributed to, and leaves a tombstone in
the audit trail with counts only, all in one transaction per chunk.

"Five years after" is judged on business dates (Asia/Shanghai): a record whose
adverse event ended on day E is purged from the fifth anniversary of E on; the
anniversary of 29 February is 1 March.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field

from django.conf import settings
from django.db import connection, transaction

from core.clock import business_day_start, business_today
from core.partitions import month_bounds, partition_drop, partition_months, partition_name, partitions_ensure
from core.sql import execute_binary
from members.audit import Actor, audit_event_record
from sharing.evaluations.models import TokenEvaluationCount
from sharing.monitoring.models import Watch
from sharing.records.matching import summaries_refresh
from sharing.retention.selectors import RECORD_DUE_CONDITION, loan_purge_due, lookup_log_before, record_purge_due
from sharing.tlog import leaf
from sharing.tlog.services import Change, log_append

PURGE_CHUNK = 5000


_PURGE_SQL = f"""
    WITH due AS (
        SELECT id FROM sharing_record WHERE {RECORD_DUE_CONDITION}
        ORDER BY id LIMIT %(limit)s FOR UPDATE SKIP LOCKED
    ),
    identifiers AS (
        DELETE FROM sharing_recordidentifier ri USING due WHERE ri.record_id = due.id RETURNING ri.token
    ),
    -- Data-modifying CTEs run whether or not the final SELECT reads them.
    history AS (
        DELETE FROM sharing_recordevent h USING due WHERE h.pgh_obj_id = due.id RETURNING 1
    ),
    named AS (
        UPDATE sharing_dispute d SET record_id = NULL FROM due WHERE d.record_id = due.id RETURNING 1
    ),
    records AS (
        DELETE FROM sharing_record r USING due WHERE r.id = due.id
        RETURNING r.member_id, r.status, r.kind, r.id, r.reference, r.log_salt
    )
    SELECT 'record', member_id, status, kind, NULL::bytea, id, reference, log_salt FROM records
    UNION ALL SELECT 'token', NULL, NULL, NULL, token, NULL, NULL, NULL FROM (SELECT DISTINCT token FROM identifiers) t
"""


@dataclass
class PurgeResult:
    records: int = 0
    identifiers: int = 0
    by_member: Counter = field(default_factory=Counter)
    retracted: int = 0
    lookups: int = 0
    lookup_entries: int = 0
    watches: int = 0
    evaluation_counts: int = 0
    events: int = 0
    deliveries: int = 0


def records_purge(*, today: dt.date | None = None, chunk: int = PURGE_CHUNK) -> PurgeResult:
    """Purge every record whose retention is over on ``today``, one committed chunk at a time."""
    today = today or business_today()
    adverse, retracted_before = record_purge_due(today)
    loans = loan_purge_due(today)
    result = PurgeResult()
    while True:
        with transaction.atomic():
            rows = execute_binary(
                _PURGE_SQL,
                {"adverse": adverse, "retracted_before": retracted_before, "loans": loans, "limit": chunk},
                fetch=True,
            )
            records = [(member_id, status) for row, member_id, status, *_rest in rows if row == "record"]
            if not records:
                return result
            loans_closed = sum(
                1
                for row, _m, status, kind, *_rest in rows
                if row == "record" and kind == "loan" and status != "retracted"
            )
            tokens = [bytes(token) for row, _m, _s, _kind, token, *_rest in rows if row == "token"]
            # The purge's own leaf is the last the salt keys; the salt goes with the row.
            log_append(
                [
                    Change(
                        kind=leaf.PURGED,
                        member_id=None,
                        record_id=record_id,
                        reference=reference,
                        salt=bytes(salt),
                        change=leaf.state_change(reference, event="purged"),
                    )
                    for row, _m, _s, _k, _t, record_id, reference, salt in rows
                    if row == "record"
                ]
            )
            summaries_refresh(tokens)
            by_member = Counter(member_id for member_id, _status in records)
            retracted = sum(1 for _member_id, status in records if status == "retracted")
            # The tombstone: how many, whose, why, never which.
            audit_event_record(
                actor=Actor.system("retention"),
                action="retention.records_purged",
                payload={
                    "records": len(records),
                    "retracted": retracted,
                    "adverse_ended": len(records) - retracted - loans_closed,
                    "loans_closed": loans_closed,
                    "tokens": len(tokens),
                    "by_member": {str(member_id): count for member_id, count in sorted(by_member.items())},
                    "adverse_ended_on_or_before": adverse,
                    "loans_closed_on_or_before": loans,
                    "retracted_before": retracted_before,
                },
            )
        result.records += len(records)
        result.identifiers += len(tokens)
        result.retracted += retracted
        result.by_member.update(by_member)


def lookup_log_purge(*, today: dt.date | None = None) -> PurgeResult:
    """Drop each month of the lookup log (lookups and their entries) whose every moment is before the retention
    cutoff: the month's two partitions detached and dropped whole, no row deleted, and one tombstone of counts
    in the audit trail, in one transaction a month.

    Rows that landed in a default partition are first moved into their months (``partitions_ensure``), so
    they go with their month. The entries are counted from the month's lookups (each lookup logs exactly
    ``identifiers`` entries, in its own transaction): counting the entries themselves would read the month.
    """
    today = today or business_today()
    before = lookup_log_before(today)
    partitions_ensure(today=today)
    result = PurgeResult()
    months = sorted(set(partition_months("sharing_lookup")) | set(partition_months("sharing_lookupentry")))
    for month in months:
        start, end = month_bounds(month)
        if end > before:
            break
        with transaction.atomic():
            lookups, entries = _month_counts(month)
            for table in ("sharing_lookupentry", "sharing_lookup"):
                if month in partition_months(table):
                    partition_drop(table, month)
            audit_event_record(
                actor=Actor.system("retention"),
                action="retention.lookups_purged",
                payload={
                    "month": f"{month:%Y-%m}",
                    "lookups": lookups,
                    "entries": entries,
                    "logged_from": start,
                    "logged_before": end,
                    "cutoff": before,
                },
            )
        result.lookups += lookups
        result.lookup_entries += entries
    return result


def _month_counts(month: dt.date) -> tuple[int, int]:
    if month not in partition_months("sharing_lookup"):
        return 0, 0
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*), coalesce(sum(identifiers), 0) FROM {partition_name('sharing_lookup', month)}")
        lookups, entries = cursor.fetchone()
    return lookups, int(entries)


def evaluation_counts_purge(*, today: dt.date | None = None) -> int:
    """The daily counts of token evaluations (a member, an identifier type, a day) go with the lookup log of their
    days: both say how much a member asked, and neither is kept longer than the other. One tombstone of counts.
    The counts' days are UTC days: a day goes once all of it is before the lookup log's cutoff."""
    before = lookup_log_before(today or business_today()).astimezone(dt.UTC).date()
    with transaction.atomic():
        deleted, _details = TokenEvaluationCount.objects.filter(day__lt=before).delete()
        if deleted:
            audit_event_record(
                actor=Actor.system("retention"),
                action="retention.evaluation_counts_purged",
                payload={"counts": deleted, "days_before": before},
            )
    return deleted


def watches_purge(*, today: dt.date | None = None, chunk: int = PURGE_CHUNK) -> int:
    """Watches whose expiry is more than 90 days past, with their tokens; their events stay (without the link)
    until the events' own retention."""
    cutoff = (today or business_today()) - dt.timedelta(days=settings.RISKSHARE_WATCH_RETENTION_DAYS)
    deleted = 0
    while True:
        with transaction.atomic():
            due = list(
                Watch.objects.filter(expires_on__lt=cutoff)
                .order_by("pk")
                .select_for_update(skip_locked=True)
                .values_list("pk", "member_id")[:chunk]
            )
            if not due:
                return deleted
            Watch.objects.filter(pk__in=[pk for pk, _member in due]).delete()
            by_member = Counter(member_id for _pk, member_id in due)
            audit_event_record(
                actor=Actor.system("retention"),
                action="retention.watches_purged",
                payload={
                    "watches": len(due),
                    "by_member": {str(member_id): count for member_id, count in sorted(by_member.items())},
                    "expired_before": cutoff,
                },
            )
        deleted += len(due)


def monitoring_before(today: dt.date) -> dt.datetime:
    """Monitoring events and deliveries created before this moment are past their retention: what was made
    on day D goes on day D + RISKSHARE_MONITORING_EVENT_DAYS (as the lookup log goes on its anniversary)."""
    return business_day_start(today - dt.timedelta(days=settings.RISKSHARE_MONITORING_EVENT_DAYS - 1))


# Events past retention, with their deliveries. Two kinds stay: an event about a record that is still open,
# on a watch that still exists, is what later events of that record are told against (its escalations,
# its end: each told once); and an event still being delivered stays until its delivery ends.
_EVENTS_PURGE_SQL = """
    WITH due AS (
        SELECT e.id FROM sharing_monitoringevent e
        WHERE e.created_at < %(before)s
          AND NOT (e.watch_id IS NOT NULL AND e.record_id IS NOT NULL AND EXISTS (
                SELECT 1 FROM sharing_record r
                WHERE r.id = e.record_id AND r.status IN ('active', 'disputed') AND r.resolved_date IS NULL))
          AND NOT EXISTS (SELECT 1 FROM sharing_webhookdelivery d
                          WHERE d.event_id = e.id AND d.status IN ('pending', 'sending'))
        ORDER BY e.id LIMIT %(limit)s
        FOR UPDATE SKIP LOCKED
    ),
    deliveries AS (
        DELETE FROM sharing_webhookdelivery d USING due WHERE d.event_id = due.id RETURNING 1
    ),
    events AS (
        DELETE FROM sharing_monitoringevent e USING due WHERE e.id = due.id RETURNING e.member_id
    )
    SELECT member_id, count(*), (SELECT count(*) FROM deliveries) FROM events GROUP BY member_id
"""

# Finished deliveries (delivered or dead) last attempted before the cutoff, whose events stay: the kept
# events' above, and tests (pings).
_DELIVERIES_PURGE_SQL = """
    WITH due AS (
        SELECT id FROM sharing_webhookdelivery
        WHERE created_at < %(before)s AND next_attempt_at < %(before)s
          AND coalesce(delivered_at, created_at) < %(before)s AND status IN ('delivered', 'dead')
        ORDER BY id LIMIT %(limit)s
        FOR UPDATE SKIP LOCKED
    )
    DELETE FROM sharing_webhookdelivery d USING due WHERE d.id = due.id RETURNING d.status
"""


def monitoring_purge(*, today: dt.date | None = None, chunk: int = PURGE_CHUNK) -> PurgeResult:
    """Purge monitoring events and webhook delivery rows past ``RISKSHARE_MONITORING_EVENT_DAYS``."""
    before = monitoring_before(today or business_today())
    result = PurgeResult()
    while True:
        with transaction.atomic():
            rows = execute_binary(_EVENTS_PURGE_SQL, {"before": before, "limit": chunk}, fetch=True)
            if not rows:
                break
            by_member = {member_id: count for member_id, count, _deliveries in rows}
            events, deliveries = sum(by_member.values()), rows[0][2]
            # The tombstone: how many, whose, never which watch or what.
            audit_event_record(
                actor=Actor.system("retention"),
                action="retention.monitoring_events_purged",
                payload={
                    "events": events,
                    "deliveries": deliveries,
                    "by_member": {str(member_id): count for member_id, count in sorted(by_member.items())},
                    "created_before": before,
                },
            )
        result.events += events
        result.deliveries += deliveries
    while True:
        with transaction.atomic():
            statuses = [
                status
                for (status,) in execute_binary(_DELIVERIES_PURGE_SQL, {"before": before, "limit": chunk}, fetch=True)
            ]
            if not statuses:
                return result
            audit_event_record(
                actor=Actor.system("retention"),
                action="retention.webhook_deliveries_purged",
                payload={
                    "deliveries": len(statuses),
                    "dead": statuses.count("dead"),
                    "created_before": before,
                },
            )
        result.deliveries += len(statuses)


def retention_purge(*, today: dt.date | None = None) -> PurgeResult:
    """The daily job: records, the lookup log, expired watches, then monitoring events and deliveries."""
    records = records_purge(today=today)
    lookups = lookup_log_purge(today=today)
    records.lookups, records.lookup_entries = lookups.lookups, lookups.lookup_entries
    records.evaluation_counts = evaluation_counts_purge(today=today)
    records.watches = watches_purge(today=today)
    monitoring = monitoring_purge(today=today)
    records.events, records.deliveries = monitoring.events, monitoring.deliveries
    return records
