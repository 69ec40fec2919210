"""Enqueueing Celery jobs from services, by the name each task is registered under.

Services name the job instead of importing the tasks module, because the tasks module imports the
services: by name there is no import circle. The database row a job works on is always written
first, so a failed send only delays the job until the sweep that re-enqueues from the row.

A send runs in the request (after its commit): with the broker down or unreachable it must fail
fast, never wait. Hence one attempt, on a connection whose connect and socket timeouts are
``RISKSHARE_ENQUEUE_TIMEOUT``, and no result subscription (the Redis result backend's subscription
has a retry loop of its own, ~19 s against a closed port; nothing reads these jobs' results).
"""

from __future__ import annotations

import logging

from celery import current_app
from django.conf import settings

logger = logging.getLogger(__name__)


def job_enqueue(name: str, *args: int | str) -> bool:
    """Send the job ``name`` with JSON-primitive arguments; False (logged) when the broker refused it.

    Sent by name (``send_task``), on the fast-failing connection above. Eager mode (development,
    tests) runs the registered task in-process: each app registers its tasks when it is ready.
    """
    app = current_app
    timeout = settings.RISKSHARE_ENQUEUE_TIMEOUT
    try:
        if app.conf.task_always_eager:
            app.tasks[name].apply_async(args)
            return True
        options = {
            **(app.conf.broker_transport_options or {}),
            "max_retries": 0,
            "socket_connect_timeout": timeout,
            "socket_timeout": timeout,
        }
        with app.connection_for_write(connect_timeout=timeout, transport_options=options) as connection:
            app.send_task(name, args=list(args), connection=connection, retry=False, ignore_result=True)
    except Exception:
        logger.exception("Could not enqueue %s%r; the sweep will pick it up", name, args)
        return False
    return True
