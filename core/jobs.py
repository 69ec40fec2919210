"""Enqueueing Celery jobs from services, by the name each task is registered under.

Services name the job instead of importing the tasks module, because the tasks module imports the
services: by name there is no import circle. The database row a job works on is always written
first, so a failed send only delays the job until the sweep that re-enqueues from the row.
"""

from __future__ import annotations

import logging

from celery import current_app

logger = logging.getLogger(__name__)


def job_enqueue(name: str, *args: int | str) -> bool:
    """Send the job ``name`` with JSON-primitive arguments; False (logged) when the broker refused it."""
    try:
        if name not in current_app.tasks:
            # Outside a worker (gunicorn) the autodiscovered task modules are imported on first use, not at
            # start: without this, every job a request enqueues waits for its sweep.
            current_app.loader.import_default_modules()
        current_app.tasks[name].delay(*args)
    except Exception:
        logger.exception("Could not enqueue %s%r; the sweep will pick it up", name, args)
        return False
    return True
