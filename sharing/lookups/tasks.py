"""Celery tasks of lookups: orchestration only, the database row is the truth."""

from __future__ import annotations

from celery import shared_task

from sharing.lookups.quotas import enumeration_watch, quota_usage_purge


@shared_task(name="sharing.enumeration_watch", acks_late=True, max_retries=0)
def enumeration_watch_task() -> int:
    return len(enumeration_watch())


@shared_task(name="sharing.quota_usage_purge", acks_late=True, max_retries=0)
def quota_usage_purge_task() -> int:
    return quota_usage_purge()
