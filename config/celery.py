"""The Celery application.

JSON only (no pickle anywhere), late acknowledgement so that a worker killed
mid-task leaves the message to be redelivered, one message prefetched at a time
so long tasks do not starve others, hard and soft time limits, and the beat
schedule kept here in code where it is reviewed like any other change.
"""

from __future__ import annotations

import os

from celery import Celery
from celery.schedules import crontab

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("riskshare")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.update(
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    task_soft_time_limit=300,
    task_time_limit=360,
    broker_connection_retry_on_startup=True,
    # A message whose worker died unacknowledged comes back after this long; the
    # batches sweep (every minute) re-enqueues the work long before that.
    broker_transport_options={"visibility_timeout": 3600},
    timezone="Asia/Shanghai",
    enable_utc=True,
    beat_schedule={
        # A broken chain must reach an operator the next morning, not at the next audit. Nightly it verifies
        # what was chained since the last verified head; `audit_verify --full` walks everything.
        "audit-chain-verify-nightly": {
            "task": "members.audit_chain_verify",
            "schedule": crontab(hour=2, minute=15),
        },
        # The database, not the broker, is the truth: pick up batches a lost message left behind.
        "batches-sweep": {"task": "sharing.batches_sweep", "schedule": 60.0},
        # The summaries of tokens touched since the last check, and one slice of all in turn, recomputed
        # against the records; reports and fixes drift (every token at least every RISKSHARE_SUMMARY_CHECK_SLICES days).
        "summaries-verify-nightly": {
            "task": "sharing.summaries_verify",
            "schedule": crontab(hour=3, minute=30),
        },
        "idempotency-keys-purge": {"task": "sharing.idempotency_keys_purge", "schedule": crontab(minute=7)},
        # Members whose last hour of lookups looks like enumeration (many, nearly all misses).
        "enumeration-watch": {"task": "sharing.enumeration_watch", "schedule": 60.0},
        "quota-usage-purge": {"task": "sharing.quota_usage_purge", "schedule": crontab(hour=4, minute=40)},
        # Adverse records five years after the event ended, retracted ones after 90 days, old lookup logs.
        "retention-purge-daily": {"task": "sharing.retention_purge", "schedule": crontab(hour=1, minute=20)},
        # "Due soon" and "overdue" dispute notices, before operators start their day (Asia/Shanghai).
        "disputes-deadlines-daily": {"task": "sharing.disputes_deadlines", "schedule": crontab(hour=7, minute=30)},
        # Partners' licences, agreements and due diligence falling due within 30 days, alerted to their members.
        "partner-review-alerts-daily": {
            "task": "sharing.partner_review_alerts",
            "schedule": crontab(hour=7, minute=40),
        },
        # Every active member's self-inspection report for the month just ended (one task per member),
        # after the nightly verifications so the month's last batches are matched and checked.
        "reports-monthly": {"task": "sharing.reports_monthly", "schedule": crontab(day_of_month=1, hour=5, minute=0)},
        "reports-sweep": {"task": "sharing.reports_sweep", "schedule": crontab(minute="*/10")},
        # Webhook deliveries a lost message or a killed worker left, and retries come due.
        "webhooks-sweep": {"task": "sharing.webhooks_sweep", "schedule": 60.0},
        # The verifiable log: number the leaves of committed record changes, sign a checkpoint when it grew
        # (at least every minute, as docs/transparency-log.md promises; batches also ask for a run when matched).
        "log-sequence": {"task": "sharing.log_sequence", "schedule": 10.0},
        # Audit events are appended unchained (no lock shared by every lookup): one sequencer chains them in
        # order, in batches. This interval is most of how long an event waits unchained (docs/design.md).
        "audit-chain-sequence": {"task": "members.audit_chain_sequence", "schedule": 5.0},
        # The monthly partitions of the logs, RISKSHARE_PARTITION_MONTHS_AHEAD months ahead (core.partitions);
        # hourly, so that a failed run is retried long before the horizon runs short.
        "partitions-ensure": {"task": "core.partitions_ensure", "schedule": crontab(minute=13)},
        # Credit inquiries on watched tokens (inquiries.threshold events).
        "monitoring-inquiries": {"task": "sharing.monitoring_inquiries", "schedule": 60.0},
    },
)
app.autodiscover_tasks()
