"""Celery tasks of the shared machinery (orchestration only)."""

from __future__ import annotations

from celery import shared_task

from core.partitions import partitions_ensure


# No retries: hourly, idempotent, and months ahead of need; a failed run is the next run's work.
@shared_task(name="core.partitions_ensure", acks_late=True, max_retries=0)
def partitions_ensure_task() -> dict:
    result = partitions_ensure()
    return {"created": result.created, "strays": result.strays}
