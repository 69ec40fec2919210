"""Faults against a served platform, the long versions of tests/test_faults.py.

    uv run python bench/faults.py [--clients 4] [--batches 30] [--records 50]

Starts everything itself, on loopback only: a PostgreSQL cluster of its own (initdb + pg_ctl into a
temporary directory, never the machine's shared cluster), gunicorn with gunicorn.conf.py (2 workers
× 4 threads), a Celery worker with beat on its own Redis queue, reached through a TCP relay this
script can close (the broker "pointed at a closed port", then back). Three scenarios, each bounded
in count and time, each printing lost, duplicated and partial batches and the time to recover:

1. retry storm: clients submit batches and retry on any failure with the same Idempotency-Key
   while a gunicorn worker is SIGKILLed every few seconds (``--kill-every``, for ``--storm-seconds``);
2. database restart (pg_ctl restart -m fast) during batches;
3. broker outage: the relay closes for 20 s (``--outage-seconds``) during batches, then opens again; how long POSTs took
   meanwhile, and how long after the broker's return every batch was matched.
"""

from __future__ import annotations

import sys
from pathlib import Path

# The project root, not bench/, first on the path: bench/tokenize.py would shadow the standard library's.
sys.path[0] = str(Path(__file__).resolve().parent.parent)

import argparse
import contextlib
import os
import random
import signal
import socket
import statistics
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

import httpx
import orjson
import psycopg

from bench.common import parse_args
from tests.served import CeleryWorker, Gunicorn, PrivateCluster, free_port, platform_env, platform_prepare, record

REDIS = ("127.0.0.1", 6379)


class Relay:
    """A loopback TCP relay to Redis that can be closed (connections cut, port refusing) and opened again."""

    def __init__(self) -> None:
        self.port = free_port()
        self.listener: socket.socket | None = None
        self.connections: list[socket.socket] = []
        self.lock = threading.Lock()

    def open(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def close(self) -> None:
        listener, self.listener = self.listener, None
        if listener:
            listener.close()
        with self.lock:
            for connection in self.connections:
                with contextlib.suppress(OSError):
                    connection.shutdown(socket.SHUT_RDWR)
                connection.close()
            self.connections.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _address = listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(REDIS)
            with self.lock:
                self.connections += [client, upstream]
            for source, target in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(source, target), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                target.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, target):
                with contextlib.suppress(OSError):
                    end.close()


@dataclass
class Outcome:
    sent: dict[str, list[str]] = field(default_factory=dict)  # idempotency key → references
    attempts: list[int] = field(default_factory=list)
    posts: list[tuple[float, float, int]] = field(default_factory=list)  # (started, seconds, status)
    answered_at: list[float] = field(default_factory=list)
    batch_ids: list[int] = field(default_factory=list)
    answered_keys: list[str] = field(default_factory=list)  # the acknowledged batches' Idempotency-Keys
    # Every answer other than 202: (started, status, Content-Type, Retry-After), to hold what clients were told.
    refusals: list[tuple[float, int, str, str | None]] = field(default_factory=list)
    gave_up: int = 0


def client_loop(
    url: str,
    key: str,
    outcome: Outcome,
    batches: int,
    records: int,
    deadline: float,
    stop: threading.Event | None = None,
    pause: float = 0.0,
) -> None:
    """Up to ``batches`` batches, each retried until answered, ``pause`` seconds between them; no new batch
    once ``stop`` is set."""
    with httpx.Client(timeout=10) as http:
        for _ in range(batches):
            if stop is not None and stop.is_set():
                break
            idempotency_key = str(uuid.uuid4())
            body_records = [record() for _ in range(records)]
            body = orjson.dumps({"records": body_records})
            outcome.sent[idempotency_key] = [r["reference"] for r in body_records]
            for attempt in range(1, 1000):
                started = time.monotonic()
                try:
                    response = http.post(
                        f"{url}/api/v1/batches",
                        content=body,
                        headers={
                            "Authorization": f"Bearer {key}",
                            "Content-Type": "application/json",
                            "Idempotency-Key": idempotency_key,
                        },
                    )
                    status = response.status_code
                except httpx.HTTPError:
                    status = 0
                outcome.posts.append((started, time.monotonic() - started, status))
                if status not in (0, 202):
                    refusal = (started, status, response.headers.get("content-type", ""))
                    outcome.refusals.append((*refusal, response.headers.get("retry-after")))
                if status == 202:
                    outcome.batch_ids.append(response.json()["id"])
                    outcome.answered_keys.append(idempotency_key)
                    outcome.attempts.append(attempt)
                    outcome.answered_at.append(time.monotonic())
                    time.sleep(pause)
                    break
                if time.monotonic() > deadline:
                    outcome.gave_up += 1
                    break
                time.sleep(0.2)


def run_clients(
    url: str,
    key: str,
    clients: int,
    batches: int,
    records: int,
    limit: float,
    stop: threading.Event | None = None,
    pause: float = 0.0,
) -> tuple[Outcome, list[threading.Thread]]:
    outcome = Outcome()
    deadline = time.monotonic() + limit
    threads = [
        threading.Thread(target=client_loop, args=(url, key, outcome, batches, records, deadline, stop, pause))
        for _ in range(clients)
    ]
    for thread in threads:
        thread.start()
    return outcome, threads


def check(database_url: str, outcome: Outcome) -> dict:
    """Lost: records of answered batches not stored; duplicated: batch rows beyond one per completed
    Idempotency-Key (over the whole run); partial: batches whose stored records differ from their count."""
    references = [reference for refs in outcome.sent.values() for reference in refs]
    acknowledged = [reference for key in outcome.answered_keys for reference in outcome.sent[key]]
    with psycopg.connect(database_url) as connection:
        (stored,) = connection.execute(
            "SELECT count(*) FROM sharing_record WHERE reference = ANY(%s)", [references]
        ).fetchone()
        (acknowledged_stored,) = connection.execute(
            "SELECT count(*) FROM sharing_record WHERE reference = ANY(%s)", [acknowledged]
        ).fetchone()
        (batches,) = connection.execute("SELECT count(*) FROM sharing_batch").fetchone()
        (keys_done,) = connection.execute(
            "SELECT count(*) FROM sharing_idempotencykey WHERE state = 'complete'"
        ).fetchone()
        (partial,) = connection.execute(
            "SELECT count(*) FROM sharing_batch b WHERE b.accepted <> "
            "(SELECT count(*) FROM sharing_record r WHERE r.batch_id = b.id)"
        ).fetchone()
    answered = len(outcome.attempts)
    return {
        "batches_sent": len(outcome.sent),
        "answered": answered,
        "records_lost": len(references) - stored if answered == len(outcome.sent) else "n/a (not all answered)",
        # Of the records in batches a 202 acknowledged: what the clients were told is stored.
        "acknowledged_records_lost": len(acknowledged) - acknowledged_stored,
        "batches_duplicated": batches - keys_done,
        "partial_batches": partial,
        "max_attempts": max(outcome.attempts, default=0),
        "answers": dict(sorted(Counter(status for _started, _seconds, status in outcome.posts).items())),
        "gave_up": outcome.gave_up,
    }


def wait_matched(database_url: str, batch_ids: list[int], limit: float) -> float | None:
    started = time.monotonic()
    while time.monotonic() - started < limit:
        with psycopg.connect(database_url) as connection:
            (pending,) = connection.execute(
                "SELECT count(*) FROM sharing_batch WHERE id = ANY(%s) AND status <> 'done'", [batch_ids]
            ).fetchone()
        if not pending:
            return time.monotonic() - started
        time.sleep(1)
    return None


def unmatched(database_url: str, batch_ids: list[int]) -> int:
    with psycopg.connect(database_url) as connection:
        (pending,) = connection.execute(
            "SELECT count(*) FROM sharing_batch WHERE id = ANY(%s) AND status <> 'done'", [batch_ids]
        ).fetchone()
    return pending


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--batches", type=int, default=30)
    parser.add_argument("--records", type=int, default=50)
    parser.add_argument("--kill-every", type=float, default=3.0, help="seconds between SIGKILLs in the storm")
    parser.add_argument("--storm-seconds", type=float, default=60.0, help="how long the storm kills workers")
    parser.add_argument("--outage-seconds", type=float, default=20.0, help="how long the broker is unreachable")
    args = parse_args(parser, clients=1, batches=2, records=5, kill_every=1.0, storm_seconds=1.0, outage_seconds=2.0)

    cluster = PrivateCluster()
    relay = Relay()
    relay.open()
    broker = f"redis://127.0.0.1:{relay.port}/13"
    env = platform_env(
        cluster.url(),
        broker,
        CELERY_TASK_DEFAULT_QUEUE=f"faults-{uuid.uuid4().hex[:8]}",
        # The clients retry as fast as they can; the per-key limit is not what these runs measure.
        RISKSHARE_RATE_LIMIT_BATCHES="1000000",
    )
    server = worker = None
    try:
        cluster.init()
        cluster.start()
        cluster.create_database()
        key = platform_prepare(env, cluster.root)
        server = Gunicorn(env, workers=2, threads=4, log=cluster.root / "gunicorn.log")
        server.start()
        worker = CeleryWorker(env, beat=True, log=cluster.root / "celery.log")
        worker.start()
        print(f"platform up: {server.url}, database {cluster.url()}, logs in {cluster.root}")

        # 1. Retry storm with SIGKILLed gunicorn workers.
        outcome, threads = run_clients(server.url, key, args.clients, args.batches, args.records, limit=180)
        kills = 0
        kills_until = time.monotonic() + args.storm_seconds
        while any(thread.is_alive() for thread in threads):
            time.sleep(args.kill_every)
            pids = server.worker_pids()
            if pids and time.monotonic() < kills_until:
                os.kill(random.choice(pids), signal.SIGKILL)  # noqa: S311 - which worker dies is no secret
                kills += 1
        result = check(cluster.url(), outcome)
        time.sleep(10)
        # Batches whose worker died between their commit and the job's send: matched by the sweep once
        # they are RISKSHARE_BATCH_STALE_AFTER old (nothing could mark them).
        result["unmatched_10s_after"] = unmatched(cluster.url(), outcome.batch_ids)
        print(f"storm: {kills} worker SIGKILLs, {result}")

        # 2. Database restart during batches.
        outcome, threads = run_clients(server.url, key, args.clients, args.batches, args.records, limit=120)
        time.sleep(2)
        restarted = time.monotonic()
        cluster.stop("fast")
        cluster.start()
        up = time.monotonic()
        for thread in threads:
            thread.join()
        after = [t - up for t in outcome.answered_at if t > up]
        result = check(cluster.url(), outcome)
        print(
            f"database restart: pg_ctl stop+start {up - restarted:.1f} s, first batch answered "
            f"{min(after, default=-1):.2f} s after it was up (answers by status over the run: 0 = no answer), "
            f"{result}"
        )

        # 3. Broker outage: closed during batches, then back.
        outcome, threads = run_clients(server.url, key, args.clients, args.batches // 2, args.records, limit=120)
        time.sleep(1)
        relay.close()
        down_at = time.monotonic()
        time.sleep(args.outage_seconds)
        relay.open()
        back = time.monotonic()
        for thread in threads:
            thread.join()
        result = check(cluster.url(), outcome)
        matched = wait_matched(cluster.url(), outcome.batch_ids, limit=240)
        waited = time.monotonic() - back
        during = [seconds for started, seconds, status in outcome.posts if down_at <= started < back and status]
        print(
            f"broker outage {args.outage_seconds:.0f} s: {len(during)} POSTs answered while it was down, latency p50 "
            f"{statistics.median(during or [0]) * 1000:.0f} ms, max {max(during or [0]) * 1000:.0f} ms; "
            f"every batch matched {waited:.0f} s after the broker returned"
            + ("" if matched is not None else " (NOT within 240 s)")
            + f"; {result}"
        )
    finally:
        for process in (server, worker):
            if process:
                process.stop()
        relay.close()
        cluster.destroy()


if __name__ == "__main__":
    main()
