"""Celery tasks of sharing: orchestration only, the database row is the truth."""

from __future__ import annotations

import logging

from celery import shared_task
from django.db import OperationalError

from members.audit import Actor, audit_event_record
from sharing.matching import dirty_tokens_drain, dirty_tokens_pending, summaries_drift_check
from sharing.monitoring import tasks as monitoring_tasks  # noqa: F401 - registers the monitoring tasks
from sharing.services.disputes import disputes_deadlines_check
from sharing.services.idempotency import idempotency_keys_purge
from sharing.services.partners import partner_review_alerts
from sharing.services.quotas import enumeration_watch, quota_usage_purge
from sharing.services.records import batch_enqueue, batches_stale
from sharing.services.records import batch_process as batch_process_service
from sharing.services.reports import report_fill, reports_request_previous_month, reports_stale
from sharing.services.retention import retention_purge
from sharing.tlog.history import history_guard, history_record
from sharing.tlog.services import log_sequence as log_sequence_service

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
    return batch_process_service(batch_id=batch_id)


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
def summaries_verify() -> dict:
    report = summaries_drift_check(fix=True)
    audit_event_record(
        actor=Actor.system("nightly summary verification"),
        action="summaries.verified",
        payload={
            "checked": report.checked,
            "missing": report.missing,
            "stale": report.stale,
            "orphaned": report.orphaned,
            "fixed": report.fixed,
        },
    )
    return {"checked": report.checked, "drift": report.drift}


@shared_task(name="sharing.idempotency_keys_purge", acks_late=True, max_retries=0)
def idempotency_keys_purge_task() -> int:
    return idempotency_keys_purge()


@shared_task(name="sharing.enumeration_watch", acks_late=True, max_retries=0)
def enumeration_watch_task() -> int:
    return len(enumeration_watch())


@shared_task(name="sharing.quota_usage_purge", acks_late=True, max_retries=0)
def quota_usage_purge_task() -> int:
    return quota_usage_purge()


# No retries: daily, chunked and idempotent; what a failed run leaves, the next run purges.
@shared_task(name="sharing.retention_purge", acks_late=True, max_retries=0)
def retention_purge_task() -> dict:
    result = retention_purge()
    return {
        "records": result.records,
        "lookups": result.lookups,
        "lookup_entries": result.lookup_entries,
        "watches": result.watches,
        "events": result.events,
        "deliveries": result.deliveries,
    }


# No retries: daily, and each notice is raised once (a stamp on the dispute), so a rerun is harmless.
@shared_task(name="sharing.disputes_deadlines", acks_late=True, max_retries=0)
def disputes_deadlines_task() -> dict:
    notices = disputes_deadlines_check()
    return {"due_soon": notices.due_soon, "overdue": notices.overdue}


# No retries: daily, and each alert is written once (a rerun finds the alerts it wrote).
@shared_task(name="sharing.partner_review_alerts", acks_late=True, max_retries=0)
def partner_review_alerts_task() -> dict:
    return {"alerts": partner_review_alerts()}


# Retries cover a database that is briefly unreachable (the report is still pending, the next
# attempt starts over); anything else leaves it pending for the reports sweep to re-enqueue.
# Soft limit above the default: a large member's report reads a month of lookups.
@shared_task(
    name="sharing.report_generate",
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(OperationalError,),
    retry_backoff=5,
    retry_backoff_max=300,
    max_retries=5,
    soft_time_limit=600,
    time_limit=660,
)
def report_generate(report_id: int) -> str | None:
    report = report_fill(report_id=report_id, actor=Actor.system("monthly self-inspection reports"))
    return report.sha256 if report else None


# No retries: creating the month's pending rows is idempotent, and the sweep enqueues what a
# failed run left pending; a second run on the same day queues nothing new.
@shared_task(name="sharing.reports_monthly", acks_late=True, max_retries=0)
def reports_monthly() -> int:
    return len(reports_request_previous_month())


# No retries: it runs every 10 minutes.
@shared_task(name="sharing.reports_sweep", acks_late=True, max_retries=0)
def reports_sweep() -> list[int]:
    stale = reports_stale()
    for report_id in stale:
        report_generate.delay(report_id)
    if stale:
        logger.warning("Re-enqueued %d pending report(s): %s", len(stale), stale[:20])
    return stale


# No retries: it runs every few seconds, and each run takes up whatever the last one left.
@shared_task(name="sharing.log_sequence", acks_late=True, max_retries=0)
def log_sequence() -> dict:
    # Checked against the heads recorded outside the database first: after a restore to an earlier point
    # neither history grows until an operator reconciles (docs/operations.md, "Histories that never fork").
    held = history_guard()
    if held:
        return {"held": sorted(held)}
    result = log_sequence_service()
    history_record()
    return {"sequenced": result.sequenced, "size": result.size, "checkpoint": result.checkpoint}
