"""Celery tasks of post-loan monitoring: orchestration only, the delivery rows are the truth.

Registered through sharing.tasks (Celery's autodiscovery looks there).
"""

from __future__ import annotations

import logging

from celery import shared_task
from django.db import OperationalError

from sharing.monitoring.delivery import deliveries_run, deliveries_sweep
from sharing.monitoring.events import inquiry_events_produce

logger = logging.getLogger(__name__)


# Retries cover a database briefly unreachable; a lost message or a killed worker is the sweep's.
@shared_task(
    name="sharing.webhooks_deliver",
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(OperationalError,),
    retry_backoff=2,
    max_retries=3,
)
def webhooks_deliver() -> int:
    return deliveries_run()


# No retries: it runs every minute.
@shared_task(name="sharing.webhooks_sweep", acks_late=True, max_retries=0)
def webhooks_sweep() -> dict:
    result = deliveries_sweep()
    if result["released"]:
        logger.warning("Handed back %d webhook deliveries whose worker's lease ran out", result["released"])
    if result["due"]:
        webhooks_deliver.delay()
    return result


# No retries: it runs every minute and looks back ten, and each fact is unique.
@shared_task(name="sharing.monitoring_inquiries", acks_late=True, max_retries=0)
def monitoring_inquiries() -> int:
    return inquiry_events_produce()
