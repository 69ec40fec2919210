"""A real Celery worker on Redis, in a subprocess, for the tests that need one.

The worker runs this project's code against the test database, on a queue of
its own, so it never takes messages meant for anything else.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator

import pytest
from django.conf import settings
from kombu import Connection

from tests.conftest import database_url_of_test_database
from tests.environment import session_secrets


def broker_url() -> str | None:
    url = os.environ.get("CELERY_BROKER_URL") or "redis://127.0.0.1:6379/15"
    try:
        with Connection(url, connect_timeout=2) as connection:
            connection.ensure_connection(max_retries=1, timeout=2)
    except Exception:
        return None
    return url


class Worker:
    def __init__(self, url: str, queue: str, extra_env: dict[str, str]):
        self.url, self.queue, self.extra_env = url, queue, extra_env
        self.process: subprocess.Popen | None = None
        self.output: list[str] = []

    def start(self, timeout: float = 60) -> None:
        env = {
            **os.environ,
            "DATABASE_URL": database_url_of_test_database(),
            "CELERY_BROKER_URL": self.url,
            "CELERY_RESULT_BACKEND": self.url,
            "CELERY_TASK_DEFAULT_QUEUE": self.queue,
            **session_secrets(),
            "DEBUG": "1" if settings.EMBEDDED_DATABASE else "0",
            **self.extra_env,
        }
        self.output = []
        ready = threading.Event()
        self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and project
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                "-P",
                "solo",
                "-c",
                "1",
                "-Q",
                self.queue,
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "-l",
                "INFO",
                "-n",
                f"{self.queue}@%h",
            ],
            cwd=settings.BASE_DIR,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

        def read() -> None:
            for line in self.process.stdout:
                self.output.append(line)
                if " ready." in line:
                    ready.set()

        threading.Thread(target=read, daemon=True).start()
        if not ready.wait(timeout):
            self.stop()
            raise RuntimeError("Celery worker did not start:\n" + "".join(self.output[-40:]))

    def kill(self) -> None:
        """SIGKILL: no cleanup, no acknowledgement, the transaction in progress is cut off."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _reset_connections(app) -> None:
    """Drop Celery's cached broker connections and queue routing so the next send uses the current conf."""
    from kombu import pools

    pools.reset()
    app._pool = None
    app.amqp._producer_pool = None
    app.amqp._rtable = None
    for cached in ("default_queue", "queues", "router"):
        app.amqp.__dict__.pop(cached, None)


@pytest.fixture
def celery_worker(transactional_db, request) -> Iterator[Worker]:
    """Route this test's tasks through Redis to a worker subprocess (skipped when Redis is unreachable)."""
    from config.celery import app

    url = broker_url()
    if url is None:
        pytest.skip("no Redis reachable for a real Celery worker (set CELERY_BROKER_URL)")
    queue = f"riskshare-test-{uuid.uuid4().hex[:8]}"
    marker = request.node.get_closest_marker("worker_env")
    worker = Worker(url, queue, marker.kwargs if marker else {})
    saved = {key: app.conf[key] for key in ("task_always_eager", "broker_url", "task_default_queue", "result_backend")}
    app.conf.update(task_always_eager=False, broker_url=url, task_default_queue=queue, result_backend=url)
    _reset_connections(app)
    worker.start()
    try:
        yield worker
    finally:
        worker.stop()
        report = getattr(request.node, "rep_call", None)
        if report is not None and report.failed:
            print("Celery worker log:\n" + "".join(worker.output[-60:]))
        app.conf.update(saved)
        _reset_connections(app)


def wait_for(condition, timeout: float = 60, interval: float = 0.05, message: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {message}")
