"""Celery tasks of retention: orchestration only, the database row is the truth."""

from __future__ import annotations

from celery import shared_task

from sharing.retention.services import retention_purge


# No retries: daily, chunked and idempotent; what a failed run leaves, the next run purges.
@shared_task(name="sharing.retention_purge", acks_late=True, max_retries=0)
def retention_purge_task() -> dict:
    result = retention_purge()
    return {
        "records": result.records,
        "lookups": result.lookups,
        "lookup_entries": result.lookup_entries,
        "evaluation_counts": result.evaluation_counts,
        "watches": result.watches,
        "events": result.events,
        "deliveries": result.deliveries,
    }
