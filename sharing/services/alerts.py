"""Alerts to members: disputes filed against their records, settlements, corrections their lookups relied on.

An alert never says which member reported: a member is told about its own
records, its own disputes and its own lookups only.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from core.sql import execute_binary
from members.audit import Actor, audit_event_record
from members.models import Credential
from sharing.models import Alert, Lookup, Record
from sharing.sealing import identifiers_open, identifiers_seal
from sharing.services.lookups import answer_unpack


def alerts_create(rows: Iterable[tuple[int, str, dict[str, Any]]]) -> int:
    """Write alerts (member id, kind, payload) in the caller's transaction; returns how many."""
    now = timezone.now()
    created = Alert.objects.bulk_create(
        Alert(member_id=member_id, kind=kind, payload=payload, created_at=now) for member_id, kind, payload in rows
    )
    return len(created)


# Every lookup that found one of the corrected records' tokens (a hit: a miss relied on no record) in
# the look-back window, by another member than the record's own, grouped per lookup: which positions
# of that lookup relied on the record.
_RELIED_SQL = """
    SELECT e.member_id, e.lookup_id, min(e.created_at), array_agg(DISTINCT e.position ORDER BY e.position)
    FROM (
        SELECT DISTINCT ri.token, r.member_id AS owner
        FROM unnest(%s::bigint[]) AS c(record_id)
        JOIN sharing_recordidentifier ri ON ri.record_id = c.record_id
        JOIN sharing_record r ON r.id = c.record_id
    ) corrected
    JOIN sharing_lookupentry e ON e.token = corrected.token AND e.hit AND e.member_id <> corrected.owner
    WHERE e.created_at >= %s
    GROUP BY e.member_id, e.lookup_id
    ORDER BY e.member_id, e.lookup_id
"""


def alert_payload_open(alert: Alert) -> dict[str, Any]:
    """The payload as the member reads it: sealed identifiers opened into ``identifiers``."""
    payload = dict(alert.payload)
    sealed = payload.pop("identifiers_sealed", None)
    if sealed is not None:
        payload["identifiers"] = identifiers_open(sealed, member_id=alert.member_id, lookup_id=payload["lookup_id"])
    return payload


def record_corrected_alerts(*, records: list[Record], now: dt.datetime) -> int:
    """Tell every member whose lookups in the look-back window relied on these records that they changed.

    One alert per lookup, naming the member's own lookup id and the identifiers (type and token as
    the member sent them) that relied on the changed data.
    """
    if not records:
        return 0
    since = now - dt.timedelta(days=settings.RISKSHARE_CORRECTION_LOOKBACK_DAYS)
    relied = execute_binary(_RELIED_SQL, [[record.pk for record in records], since], fetch=True)
    if not relied:
        return 0
    answers = dict(Lookup.objects.filter(pk__in=[row[1] for row in relied]).values_list("pk", "answer"))
    rows = []
    for member_id, lookup_id, looked_up_at, positions in relied:
        results = answer_unpack(answers[lookup_id], lookup_id=lookup_id)
        rows.append(
            (
                member_id,
                "record_corrected",
                {
                    "lookup_id": lookup_id,
                    "looked_up_at": looked_up_at.isoformat(),
                    "identifiers_sealed": identifiers_seal(
                        [{"type": results[p]["type"], "token": results[p]["token"]} for p in positions],
                        member_id=member_id,
                        lookup_id=lookup_id,
                    ),
                },
            )
        )
    return alerts_create(rows)


def alert_acknowledge(*, credential: Credential, alert: Alert) -> Alert:
    """Mark an alert read. Acknowledging twice keeps the first acknowledgement."""
    with transaction.atomic():
        updated = Alert.objects.filter(pk=alert.pk, acknowledged_at__isnull=True).update(
            acknowledged_at=timezone.now(), acknowledged_by=credential
        )
        alert.refresh_from_db()
        if updated:
            audit_event_record(
                actor=Actor.credential(credential), action="alert.acknowledged", obj=alert, payload={"kind": alert.kind}
            )
    return alert
