"""Celery tasks of the verifiable log: the one sequencer."""

from __future__ import annotations

from celery import shared_task

from sharing.tlog.services import log_sequence as log_sequence_service


# No retries: it runs every few seconds, and each run takes up whatever the last one left.
@shared_task(name="sharing.log_sequence", acks_late=True, max_retries=0)
def log_sequence() -> dict:
    result = log_sequence_service()
    return {"sequenced": result.sequenced, "size": result.size, "checkpoint": result.checkpoint}
