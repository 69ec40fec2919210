"""Alerts to members: disputes filed against their records, settlements, corrections their lookups relied on.

An alert never says which member reported: a member is told about its own
records, its own disputes and its own lookups only.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import transaction
from django.utils import timezone

from members.audit import Actor, audit_event_record
from members.models import Credential
from sharing.alerts.models import Alert
from sharing.tokens.sealing import identifiers_open


def alerts_create(rows: Iterable[tuple[int, str, dict[str, Any]]]) -> int:
    """Write alerts (member id, kind, payload) in the caller's transaction; returns how many."""
    now = timezone.now()
    created = Alert.objects.bulk_create(
        Alert(member_id=member_id, kind=kind, payload=payload, created_at=now) for member_id, kind, payload in rows
    )
    return len(created)


def alert_payload_open(alert: Alert) -> dict[str, Any]:
    """The payload as the member reads it: sealed identifiers opened into ``identifiers``."""
    payload = dict(alert.payload)
    sealed = payload.pop("identifiers_sealed", None)
    if sealed is not None:
        payload["identifiers"] = identifiers_open(sealed, member_id=alert.member_id, lookup_id=payload["lookup_id"])
    return payload


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
