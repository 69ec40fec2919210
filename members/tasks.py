"""Celery tasks of the members app (orchestration only)."""

from __future__ import annotations

import logging

from celery import shared_task

from members.audit import Actor, audit_chain_sequence, audit_chain_verify, audit_event_record, audit_verified_payload
from members.history import audit_record

logger = logging.getLogger(__name__)


# No retries: the nightly schedule is the retry, and a failed walk changes nothing.
@shared_task(name="members.audit_chain_verify", acks_late=True, max_retries=0)
def audit_chain_verify_task(full: bool = False) -> dict:
    result = audit_chain_verify(full=full)
    if not result.ok:
        logger.error("Audit chain broken at event %s: %s", result.broken_seq, result.problem)
    audit_event_record(
        actor=Actor.system("nightly audit verification"),
        action="audit.verified",
        payload=audit_verified_payload(result),
    )
    return {
        "ok": result.ok,
        "checked": result.checked,
        "broken_seq": result.broken_seq,
        "problem": result.problem,
        "from_seq": result.from_seq,
        "head_seq": result.head_seq,
        "unchained": result.unchained.events,
        "stalled": result.unchained.stalled,
    }


# No retries: it runs every few seconds, and each run chains whatever is waiting, idempotently.
@shared_task(name="members.audit_chain_sequence", acks_late=True, max_retries=0)
def audit_chain_sequence_task() -> int:
    chained = audit_chain_sequence()
    # The newest chained head, recorded outside the database (forward only): a restore to an earlier point
    # then shows as a chain that no longer holds it (members.history).
    audit_record()
    return chained
