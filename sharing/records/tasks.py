"""Celery tasks of records: orchestration only, the database row is the truth."""

from __future__ import annotations

import logging

from celery import shared_task
from django.db import InternalError, OperationalError

from core.outage import database_unavailable
from members.audit import Actor, audit_event_record
from sharing.records.idempotency import idempotency_keys_purge
from sharing.records.matching import dirty_tokens_drain, dirty_tokens_pending, summaries_drift_check
from sharing.records.services import batch_enqueue, batches_stale
from sharing.records.services import batch_process as batch_process_service

logger = logging.getLogger(__name__)


# Retries cover a database that is briefly unreachable; the sweep covers everything else
# (a lost message, a worker killed mid-task), so the retry budget can stay small.
@shared_task(
    name="sharing.batch_process",
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(OperationalError,),
    retry_backoff=2,
    retry_backoff_max=60,
    max_retries=5,
)
def batch_process(batch_id: int) -> bool:
    try:
        return batch_process_service(batch_id=batch_id)
    except InternalError as error:
        # A Citus worker lost under the matching's transaction comes back as XX000 (core.outage): retried
        # like an unreachable database rather than left to the sweep.
        if database_unavailable(error):
            raise OperationalError(*error.args) from error
        raise


# No retries: it runs every minute.
@shared_task(name="sharing.batches_sweep", acks_late=True, max_retries=0)
def batches_sweep() -> dict:
    stale = batches_stale()
    for batch_id in stale:
        batch_enqueue(batch_id=batch_id)
    leftover = 0
    if not stale and dirty_tokens_pending():
        # Tokens queued by resolve/retract or left by a killed worker with no batch waiting.
        leftover = dirty_tokens_drain()
    if stale:
        logger.warning("Re-enqueued %d stale batch(es): %s", len(stale), stale[:20])
    return {"requeued": stale, "drained": leftover}


# No retries: nightly, and a failed run changes nothing.
@shared_task(name="sharing.summaries_verify", acks_late=True, max_retries=0)
def summaries_verify(full: bool = False) -> dict:
    # Nightly: what changed and one slice; full=True recomputes every summary.
    report = summaries_drift_check(fix=True, full=full)
    audit_event_record(
        actor=Actor.system("nightly summary verification"),
        action="summaries.verified",
        payload={
            "checked": report.checked,
            "missing": report.missing,
            "stale": report.stale,
            "orphaned": report.orphaned,
            "fixed": report.fixed,
            "full": full,
        },
    )
    return {"checked": report.checked, "drift": report.drift}


@shared_task(name="sharing.idempotency_keys_purge", acks_late=True, max_retries=0)
def idempotency_keys_purge_task() -> int:
    return idempotency_keys_purge()
