"""Retention: adverse records five years after the adverse event ends, retracted records after 90 days,
the lookup log after its configured period.

A purge deletes the rows (record, identifiers, row history); a dispute keeps its link to the
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

import pgtrigger
from django.db import connection, transaction

from core.clock import business_today
from core.sql import execute_binary
from members.audit import Actor, audit_event_record
from sharing.matching import summaries_refresh
from sharing.selectors import RECORD_DUE_CONDITION, lookup_log_before, record_purge_due
from sharing.services.watches import watches_purge
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
        RETURNING r.member_id, r.status, r.id, r.reference, r.log_salt
    )
    SELECT 'record', member_id, status, NULL::bytea, id, reference, log_salt FROM records
    UNION ALL SELECT 'token', NULL, NULL, token, NULL, NULL, NULL FROM (SELECT DISTINCT token FROM identifiers) t
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


def records_purge(*, today: dt.date | None = None, chunk: int = PURGE_CHUNK) -> PurgeResult:
    """Purge every record whose retention is over on ``today``, one committed chunk at a time."""
    today = today or business_today()
    adverse, retracted_before = record_purge_due(today)
    result = PurgeResult()
    while True:
        with transaction.atomic():
            rows = execute_binary(
                _PURGE_SQL,
                {"adverse": adverse, "retracted_before": retracted_before, "limit": chunk},
                fetch=True,
            )
            records = [(member_id, status) for kind, member_id, status, *_rest in rows if kind == "record"]
            if not records:
                return result
            tokens = [bytes(token) for kind, _m, _s, token, *_rest in rows if kind == "token"]
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
                    for kind, _m, _s, _t, record_id, reference, salt in rows
                    if kind == "record"
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
                    "adverse_ended": len(records) - retracted,
                    "tokens": len(tokens),
                    "by_member": {str(member_id): count for member_id, count in sorted(by_member.items())},
                    "adverse_ended_on_or_before": adverse,
                    "retracted_before": retracted_before,
                },
            )
        result.records += len(records)
        result.identifiers += len(tokens)
        result.retracted += retracted
        result.by_member.update(by_member)


_LOOKUP_PURGE_SQL = """
    WITH due AS (
        SELECT id FROM sharing_lookup WHERE created_at < %s ORDER BY id LIMIT %s
    ),
    entries AS (
        DELETE FROM sharing_lookupentry e USING due WHERE e.lookup_id = due.id RETURNING 1
    ),
    lookups AS (
        DELETE FROM sharing_lookup l USING due WHERE l.id = due.id RETURNING 1
    )
    SELECT (SELECT count(*) FROM lookups), (SELECT count(*) FROM entries)
"""


def lookup_log_purge(*, today: dt.date | None = None, chunk: int = PURGE_CHUNK) -> PurgeResult:
    """Purge lookups (and their entries) logged on or before the retention cutoff."""
    before = lookup_log_before(today or business_today())
    result = PurgeResult()
    while True:
        # The log is append-only for everyone else: the trigger is bypassed for this transaction only.
        with transaction.atomic(), pgtrigger.ignore("sharing.Lookup:append_only", "sharing.LookupEntry:append_only"):
            # Django's own cursor: pgtrigger.ignore works through its execute wrapper,
            # which prepends a statement with a positional parameter (so no named ones here).
            with connection.cursor() as cursor:
                cursor.execute(_LOOKUP_PURGE_SQL, [before, chunk])
                lookups, entries = cursor.fetchone()
            if not lookups:
                return result
            audit_event_record(
                actor=Actor.system("retention"),
                action="retention.lookups_purged",
                payload={"lookups": lookups, "entries": entries, "logged_before": before},
            )
        result.lookups += lookups
        result.lookup_entries += entries


def retention_purge(*, today: dt.date | None = None) -> PurgeResult:
    """The daily job: records, then the lookup log."""
    records = records_purge(today=today)
    lookups = lookup_log_purge(today=today)
    records.lookups, records.lookup_entries = lookups.lookups, lookups.lookup_entries
    records.watches = watches_purge(today=today)
    return records
