"""Celery tasks of reports: orchestration only, the database row is the truth."""

from __future__ import annotations

import logging

from celery import shared_task
from django.db import OperationalError

from members.audit import Actor
from sharing.reports.services import report_fill, reports_request_previous_month, reports_stale

logger = logging.getLogger(__name__)


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
