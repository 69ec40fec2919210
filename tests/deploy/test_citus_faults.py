"""A Citus worker node stopped and started mid-ingest (issue 32's fault test), on deploy/citus/devcluster.

Members' clients (bench/faults.py's retry storm: each batch POSTed with an Idempotency-Key and retried on any
failure) submit batches through gunicorn to the coordinator, a real Celery worker with beat matches them and
a client looks up tokens throughout; after a few seconds one worker node's postmaster is SIGKILLed (the shards
of the token summaries and dirty tokens on it are gone) and started again ~12 s later
(``RISKSHARE_CITUS_FAULT_MODE=immediate`` stops it by pg_ctl's immediate shutdown instead). Then:

- of what the clients were acknowledged nothing is lost, doubled or partial (bench/faults.py's ``check``);
- every error a client saw is a problem document (``application/problem+json``), ``503`` with
  ``Retry-After``, never a ``500``; and the outage was seen (lookups read the shards of the stopped node);
- every batch ends matched: the task's own retries, and the sweep (beat, ``RISKSHARE_BATCH_STALE_AFTER``
  short) for a batch whose retries ran out while the node was down.

Batch submission writes only tables still on the coordinator (records, batches, idempotency keys), so its
POSTs go on through the outage; the lookups read summaries on the workers, and the matching writes them.
It prints what it measured. Needs root (or postgres), Citus built (``devcluster build``) and Redis; where one
is missing it is skipped, saying what. About 1.5–2 minutes: it starts the cluster if it is down (and stops it
after), makes a fresh database on every node and migrates it; the node is started again and the database
dropped however the test ends.
"""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

import httpx
import orjson
import pytest

from bench.faults import check, run_clients, wait_matched
from tests.deploy.test_citus import citus_database, devcluster
from tests.deploy.test_recovery import unmatched_report
from tests.served import CeleryWorker, Gunicorn, platform_env, platform_prepare
from tests.worker import broker_url

ROOT = Path(__file__).resolve().parents[2]
DATABASE = "cfault_citus_faults"
NODE = "worker1"
DOWN_SECONDS = 12
# kill: SIGKILL to the node's postmaster (its backends exit on their own); immediate: pg_ctl's immediate
# shutdown, which breaks the coordinator's connections mid-transaction (Citus then reports XX000, core.outage).
MODE = os.environ.get("RISKSHARE_CITUS_FAULT_MODE", "kill")
logging.getLogger("httpx").setLevel(logging.WARNING)  # hundreds of retried POSTs, each logged at INFO

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 and os.environ.get("USER") != "postgres", reason="the Citus cluster needs root or postgres"
)


class Lookups:
    """A member looking up a few fresh tokens at a time, every answer kept: (started, status, Content-Type,
    Retry-After). Several tokens per lookup, so that nearly every one reads a shard on the stopped node."""

    def __init__(self, url: str, key: str):
        self.url, self.key = url, key
        self.answers: list[tuple[float, int, str, str | None]] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(30)

    def _run(self) -> None:
        body = {"purpose": "credit_application", "consent_reference": "consent-1", "key_version": 1}
        with httpx.Client(timeout=10) as http:
            while not self.stop.is_set():
                identifiers = [{"type": "cn_resident_id", "token": secrets.token_hex(32)} for _ in range(4)]
                started = time.monotonic()
                try:
                    response = http.post(
                        f"{self.url}/api/v1/lookups",
                        content=orjson.dumps({**body, "identifiers": identifiers}),
                        headers={"Authorization": f"Bearer {self.key}", "Content-Type": "application/json"},
                    )
                    answer = (response.status_code, response.headers.get("content-type", ""))
                    self.answers.append((started, *answer, response.headers.get("retry-after")))
                except httpx.HTTPError:
                    self.answers.append((started, 0, "", None))
                time.sleep(0.25)


def swept(log: Path) -> list[int]:
    """The batches the sweep re-enqueued (its warning in the worker's log names up to 20 a run)."""
    text = log.read_text(errors="replace") if log.exists() else ""
    runs = re.findall(r"Re-enqueued \d+ stale batch\(es\): \[([\d, ]*)\]", text)
    return sorted({int(batch) for run in runs for batch in run.split(",") if batch.strip()})


def test_a_worker_node_stopped_mid_ingest_loses_nothing_and_answers_503(tmp_path, capsys):
    broker = broker_url()
    if broker is None:
        pytest.skip("no Redis reachable (set CELERY_BROKER_URL): the test runs a real Celery worker")
    with citus_database(DATABASE) as url:
        env = platform_env(
            url,
            broker,
            PYTHONPATH=str(ROOT),
            CELERY_TASK_DEFAULT_QUEUE=f"cfault-{uuid.uuid4().hex[:8]}",
            RISKSHARE_RATE_LIMIT_BATCHES="1000000",  # the clients retry as fast as they can
            RISKSHARE_LOOKUP_REQUESTS_PER_MINUTE="1000000",
            # The sweep (beat, every minute) re-enqueues a batch whose task gave up while the node was down;
            # production waits 5 minutes before calling a batch lost, the test cannot.
            RISKSHARE_BATCH_STALE_AFTER="20",
        )
        key = platform_prepare(env, tmp_path)
        server = Gunicorn(env, workers=2, threads=4, log=tmp_path / "gunicorn.log")
        worker = CeleryWorker(env, beat=True, log=tmp_path / "celery.log")
        try:
            server.start()
            worker.start()
            stop = threading.Event()
            with Lookups(server.url, key) as lookups:
                # Paced: matching on the cluster (one solo worker, two cores shared with everything) keeps up
                # with about two batches a second; a storm at full speed would test only the backlog.
                storm = {"clients": 2, "batches": 10_000, "records": 20, "limit": 90, "stop": stop, "pause": 1.0}
                outcome, threads = run_clients(server.url, key, **storm)
                time.sleep(5)
                try:
                    down_at = time.monotonic()
                    devcluster("stop-node", NODE, "--mode", MODE)
                    time.sleep(DOWN_SECONDS)
                finally:
                    devcluster("start-node", NODE)
                up_at = time.monotonic()
                time.sleep(5)  # the clients and lookups go on against the whole cluster again
                stop.set()
                for thread in threads:
                    thread.join(120)
            result = check(url, outcome)
            matched = wait_matched(url, outcome.batch_ids, limit=120)
            matched_after_up = time.monotonic() - up_at
            log = tmp_path / "celery.log"
            unmatched = None if matched is not None else unmatched_report(url, outcome.batch_ids, log)
        finally:
            worker.stop()
            server.stop()
            devcluster("start-node", NODE, check=False)

    # (started, batch|lookup, status, Content-Type, Retry-After): every answer that was not a success
    errors = [(started, "batch", *rest) for started, *rest in outcome.refusals]
    errors += [(started, "lookup", *rest) for started, *rest in lookups.answers if rest[0] != 200]
    seen = [at for at, *_rest in errors]
    measured = {
        **{name: result[name] for name in ("batches_sent", "answered", "max_attempts", "answers")},
        "records_acknowledged": len(outcome.answered_keys) * storm["records"],
        "lost": result["acknowledged_records_lost"],
        "duplicated": result["batches_duplicated"],
        "partial": result["partial_batches"],
        "lookups": dict(sorted(Counter(status for _at, status, *_rest in lookups.answers).items())),
        "errors": {f"{kind} {status}": n for (kind, status), n in Counter(e[1:3] for e in errors).items()},
        "node_down_s": round(up_at - down_at, 1),
        "errors_seen_s_after_stop": [round(min(seen) - down_at, 1), round(max(seen) - down_at, 1)] if seen else None,
        "batches_swept": swept(log),
        "all_matched_s_after_start": round(matched_after_up, 1) if matched is not None else None,
    }
    with capsys.disabled():
        print(f"\nCitus worker stopped mid-ingest, measured: {json.dumps(measured)}")

    assert result["acknowledged_records_lost"] == 0, result
    assert result["batches_duplicated"] == 0, result
    assert result["partial_batches"] == 0, result
    assert result["gave_up"] == 0 and result["answered"] == result["batches_sent"], result
    wrong = [e for e in errors if e[2] != 503 or e[3] != "application/problem+json" or not e[4]]
    assert not wrong, f"answers other than a 503 problem document with Retry-After: {Counter(e[1:4] for e in wrong)}"
    assert not [s for s, _seconds, status in outcome.posts if status == 0], "gunicorn itself went away"
    assert any(kind == "lookup" for _at, kind, *_rest in errors), "no lookup saw the stopped node: nothing tested"
    assert any(at > up_at for at in outcome.answered_at), "no batch acknowledged after the node came back"
    assert matched is not None, unmatched
