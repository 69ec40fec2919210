"""Celery tasks of the registers: orchestration only, the database row is the truth."""

from __future__ import annotations

from celery import shared_task

from sharing.registers.services import partner_review_alerts


# No retries: daily, and each alert is written once (a rerun finds the alerts it wrote).
@shared_task(name="sharing.partner_review_alerts", acks_late=True, max_retries=0)
def partner_review_alerts_task() -> dict:
    return {"alerts": partner_review_alerts()}
