"""Celery tasks of the verifiable log: the one sequencer."""

from __future__ import annotations

from celery import shared_task

from sharing.tlog.history import history_guard, history_record
from sharing.tlog.services import log_sequence as log_sequence_service


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
