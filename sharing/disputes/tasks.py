"""Celery tasks of disputes: orchestration only, the database row is the truth."""

from __future__ import annotations

from celery import shared_task

from sharing.disputes.services import disputes_deadlines_check


# No retries: daily, and each notice is raised once (a stamp on the dispute), so a rerun is harmless.
@shared_task(name="sharing.disputes_deadlines", acks_late=True, max_retries=0)
def disputes_deadlines_task() -> dict:
    notices = disputes_deadlines_check()
    return {"due_soon": notices.due_soon, "overdue": notices.overdue}
