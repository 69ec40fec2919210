"""Celery tasks of the members app (orchestration only)."""

from __future__ import annotations

import logging

from celery import shared_task

from members.audit import Actor, audit_chain_verify, audit_event_record

logger = logging.getLogger(__name__)


# No retries: the nightly schedule is the retry, and a failed walk changes nothing.
@shared_task(name="members.audit_chain_verify", acks_late=True, max_retries=0)
def audit_chain_verify_task() -> dict:
    result = audit_chain_verify()
    if not result.ok:
        logger.error("Audit chain broken at event %s: %s", result.broken_seq, result.problem)
    audit_event_record(
        actor=Actor.system("nightly audit verification"),
        action="audit.verified",
        payload={"ok": result.ok, "checked": result.checked, "broken_seq": result.broken_seq},
    )
    return {"ok": result.ok, "checked": result.checked, "broken_seq": result.broken_seq, "problem": result.problem}
