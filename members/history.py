"""Holds on the published histories, and the audit chain's head kept outside the database.

The audit chain's newest head (sequence number and hash) is recorded in the history witness (core.witness)
as the chain grows. After a restore or a failover the database's chain is checked against it: the recorded
event must still be there with the recorded hash. If it is not, the database is older than what was
published (or holds a different history), and an open ``HistoryHold`` makes every append fail (a trigger on
the events' table) until an operator reconciles: "continuing" would chain new events to an older head and
present two histories to anyone who kept the recorded one. The verifiable log has the same kind of hold
(its check lives with the log); this module keeps the holds, whatever the history.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from prometheus_client.core import GaugeMetricFamily

from core.witness import witness_path, witness_update
from members.audit import Actor, audit_chain_sequence, audit_event_record, audit_labels_register
from members.models import AuditEvent, HistoryHold

logger = logging.getLogger(__name__)

audit_labels_register(
    actions={"history.reconciled": _("History reconciled after a restore")},
    system_actors={"history guard": _("history guard")},
)

RUNBOOK = "docs/operations.md, section 'Histories that never fork'"


def audit_head() -> dict[str, Any] | None:
    """The newest chained event (events wait unchained until the chain's sequencer places them)."""
    head = AuditEvent.objects.filter(seq__isnull=False).order_by("-seq").values("seq", "hash").first()
    return dict(head) if head else None


def audit_check(recorded: dict[str, Any] | None) -> dict[str, Any] | None:
    """None when the database's chain holds the recorded head; else what it holds instead."""
    if not recorded:
        return None
    at_seq = AuditEvent.objects.filter(seq=recorded["seq"]).values_list("hash", flat=True).first()
    if at_seq == recorded["hash"]:
        return None
    return {"head": audit_head(), "hash_at_recorded_seq": at_seq}


def audit_record() -> None:
    """Record the chain's head in the witness; only forward (a head with a higher sequence number)."""
    head = audit_head()
    if head is None:
        return
    witness_update("audit", lambda current: head if not current or head["seq"] > current["seq"] else None)


def holds_open() -> set[str]:
    return set(HistoryHold.objects.filter(released_at__isnull=True).values_list("kind", flat=True))


def hold_open(kind: str, *, recorded: dict[str, Any], found: dict[str, Any]) -> bool:
    """Open a hold of ``kind`` (one at most): True if this call opened it. Said loudly: an error in the log."""
    try:
        with transaction.atomic():
            HistoryHold.objects.create(kind=kind, recorded=recorded, found=found)
    except IntegrityError:
        return False
    logger.error(
        "HISTORY HELD: the %s in the database does not continue the head recorded outside it (recorded %s, "
        "found %s); it stays held until an operator reconciles (%s).",
        kind,
        recorded,
        found,
        RUNBOOK,
    )
    return True


def holds_release(*, kinds: set[str], actor: Actor, reason: str, payload: dict[str, Any]) -> int:
    """Release the open holds of ``kinds`` and say so in the chain itself (the event that continues it)."""
    with transaction.atomic():
        released = HistoryHold.objects.filter(kind__in=kinds, released_at__isnull=True).update(
            released_at=timezone.now(), released_by=actor.label[:200], release_reason=reason
        )
        audit_event_record(
            actor=actor, action="history.reconciled", payload={"kinds": sorted(kinds), "reason": reason, **payload}
        )
    # Chained at once (not at the sequencer's next run): the event is the head the witness records next.
    audit_chain_sequence()
    return released


def collect() -> Iterator[GaugeMetricFamily]:
    yield GaugeMetricFamily(
        "riskshare_history_witness_configured",
        "1 when RISKSHARE_HISTORY_WITNESS names the file that records the histories' heads outside the database.",
        value=int(witness_path() is not None),
    )
    held = holds_open()
    family = GaugeMetricFamily(
        "riskshare_history_held",
        "1 while the history is held after a restore (it does not grow until an operator reconciles), else 0.",
        labels=["history"],
    )
    for kind in HistoryHold.Kind.values:
        family.add_metric([kind], int(kind in held))
    yield family
