"""Recovery point and recovery time on the drill cluster (deploy/ha/devcluster), and what the synchronous
standby costs a commit.

    uv run python bench/recovery.py [--http-runs 4] [--ab-runs 6] [--kills 3] [--rows 1000000]
                                    (as root, CELERY_BROKER_URL set; 0 skips a part; --smoke: a minute or so)

Starts the cluster afresh under var/ha (etcd, two Patroni nodes in synchronous mode, pgBackRest) and prints:

0. the issue's benchmark, what the synchronous standby costs the platform: gunicorn and a Celery worker on the
   cluster (the multi-host DATABASE_URL), in ``--http-runs`` rounds, each measuring Patroni's synchronous_mode on
   and off (``devcluster sync``; the order alternates between rounds): HTTP ingest (``--clients`` members'
   threads POSTing ``--records``-record batches for ``--http-seconds``, records acknowledged per second) and
   ``--lookups`` sequential single lookups (p50); medians over the rounds, and the ratios on / off;
1. commit cost of the synchronous standby, same run, alternating: 50-row inserts committed with
   ``synchronous_commit = on`` (wait for the standby: what the platform runs) against ``local`` (the
   primary's disk only), in ``--ab-runs`` runs of 5 s each way; medians of throughput and p50 latency;
2. ``--kills`` failovers each way, while three writers retry with the same ids: the primary's postmaster
   SIGKILLed with its data directory deleted, and the whole node (Patroni too) killed: acknowledged rows
   lost, the longest write outage, the time until a synchronous standby exists again;
3. a restore with ``--rows`` records-sized rows (~200 bytes each): full backup time, and destroy + restore
   to the latest: time to a primary accepting writes, to a synchronous standby, rows present.
"""

from __future__ import annotations

import sys
from pathlib import Path

# The project root, not bench/, first on the path: bench/tokenize.py would shadow the standard library's.
sys.path[0] = str(Path(__file__).resolve().parent.parent)

import argparse
import itertools
import json
import os
import secrets
import statistics
import subprocess
import tempfile
import threading
import time
import uuid

import httpx
import psycopg

from bench.common import QUIET, parse_args
from bench.faults import run_clients
from bench.lookup import single_lookup_body
from tests.served import CeleryWorker, Gunicorn, platform_env, platform_prepare

ROOT = Path(__file__).resolve().parent.parent
DEVCLUSTER = ROOT / "deploy" / "ha" / "devcluster"


def devcluster(*args: str) -> str:
    result = subprocess.run([sys.executable, str(DEVCLUSTER), *args], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise SystemExit(f"devcluster {' '.join(args)} failed:\n{result.stderr[-2000:]}")
    return result.stdout.strip()


def status() -> dict:
    return json.loads(devcluster("status"))


def ingest_and_lookups(server: Gunicorn, key: str, args: argparse.Namespace) -> tuple[float, float]:
    """Records acknowledged per second by the HTTP ingest, then the p50 of single lookups (seconds)."""
    stop = threading.Event()
    outcome, threads = run_clients(server.url, key, args.clients, 1_000_000, args.records, limit=120, stop=stop)
    started = time.monotonic()
    time.sleep(args.http_seconds)
    stop.set()
    for thread in threads:
        thread.join()
    rate = len(outcome.answered_keys) * args.records / (time.monotonic() - started)
    latencies = []
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    with httpx.Client(base_url=server.url, headers=headers, timeout=30) as http:
        for _ in range(args.lookups):
            body = single_lookup_body(secrets.token_hex(32))
            t0 = time.perf_counter()
            response = http.post("/api/v1/lookups", content=body)
            latencies.append(time.perf_counter() - t0)
            if response.status_code != 200:
                raise SystemExit(f"lookup failed: {response.status_code} {response.text[:300]}")
    return rate, statistics.median(latencies)


def http_ab(url: str, args: argparse.Namespace) -> dict:
    """The platform served on the cluster, Patroni's synchronous_mode on and off in alternating order."""
    broker = os.environ.get("CELERY_BROKER_URL")
    if not broker:
        raise SystemExit("set CELERY_BROKER_URL (the platform's Celery worker matches the batches)")
    database = f"bench_recovery_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{database}"')
    work = Path(tempfile.mkdtemp(prefix="riskshare-recovery-"))
    env = platform_env(
        devcluster("url", database),
        broker,
        **QUIET,
        CELERY_TASK_DEFAULT_QUEUE=f"recovery-{uuid.uuid4().hex[:8]}",
        RISKSHARE_RATE_LIMIT_BATCHES="1000000",
        RISKSHARE_LOOKUP_REQUESTS_PER_MINUTE="1000000",
    )
    key = platform_prepare(env, work)
    server = Gunicorn(env, workers=2, threads=4, log=work / "gunicorn.log")
    worker = CeleryWorker(env, log=work / "celery.log")
    measured: dict[str, list[tuple[float, float]]] = {"on": [], "off": []}
    try:
        server.start()
        worker.start()
        ingest_and_lookups(server, key, argparse.Namespace(**{**vars(args), "http_seconds": 1, "lookups": 5}))
        for run in range(args.http_runs):
            for mode in ("on", "off") if run % 2 == 0 else ("off", "on"):
                devcluster("sync", mode)
                measured[mode].append(ingest_and_lookups(server, key, args))
    finally:
        worker.stop()
        server.stop()
        devcluster("sync", "on")
    rate = {mode: statistics.median(r for r, _ in runs) for mode, runs in measured.items()}
    p50 = {mode: statistics.median(p for _, p in runs) for mode, runs in measured.items()}
    return {
        "ingest_records_per_s_sync": round(rate["on"], 1),
        "ingest_records_per_s_async": round(rate["off"], 1),
        "ingest_ratio": round(rate["on"] / rate["off"], 2),
        "lookup_p50_ms_sync": round(p50["on"] * 1000, 2),
        "lookup_p50_ms_async": round(p50["off"] * 1000, 2),
        "lookup_p50_ratio": round(p50["on"] / p50["off"], 2),
        "runs": {mode: [[round(r, 1), round(p * 1000, 2)] for r, p in runs] for mode, runs in measured.items()},
    }


def commit_ab(url: str, runs: int, seconds: float = 5) -> dict:
    rows = [(i, "x" * 150) for i in range(50)]
    results: dict[str, list[tuple[float, float]]] = {"on": [], "local": []}
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("CREATE TABLE IF NOT EXISTS ab (id bigserial PRIMARY KEY, n int, body text)")
        for run in range(runs * 2):
            mode = ("on", "local")[run % 2]
            connection.execute(f"SET synchronous_commit = {mode}")
            latencies, end = [], time.monotonic() + seconds
            while time.monotonic() < end:
                started = time.monotonic()
                with connection.transaction(), connection.cursor() as cursor:
                    cursor.executemany("INSERT INTO ab (n, body) VALUES (%s, %s)", rows)
                latencies.append(time.monotonic() - started)
            results[mode].append((len(latencies) / seconds, statistics.median(latencies)))
    on_rate = statistics.median(r for r, _ in results["on"])
    local_rate = statistics.median(r for r, _ in results["local"])
    on_p50 = statistics.median(p for _, p in results["on"])
    local_p50 = statistics.median(p for _, p in results["local"])
    return {
        "commits_per_s_sync": round(on_rate, 1),
        "commits_per_s_local": round(local_rate, 1),
        "throughput_ratio": round(on_rate / local_rate, 2),
        "p50_ms_sync": round(on_p50 * 1000, 2),
        "p50_ms_local": round(local_p50 * 1000, 2),
        "p50_ratio": round(on_p50 / local_p50, 2),
    }


class Writers:
    def __init__(self, url: str):
        self.url, self.acknowledged, self.stop = url, [], threading.Event()
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.write, args=(w,), daemon=True) for w in range(3)]

    def __enter__(self):
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for thread in self.threads:
            thread.join(30)

    def write(self, writer: int) -> None:
        connection, n = None, 0
        while not self.stop.is_set():
            row = time.time_ns() // 1000 * 10 + writer
            while not self.stop.is_set():
                try:
                    if connection is None or connection.closed:
                        connection = psycopg.connect(self.url, autocommit=True, connect_timeout=2)
                    connection.execute("INSERT INTO kills (id) VALUES (%s) ON CONFLICT DO NOTHING", [row])
                except psycopg.Error:
                    connection = None
                    time.sleep(0.2)
                    continue
                with self.lock:
                    self.acknowledged.append((row, time.time()))
                break
            n += 1
            time.sleep(0.02)


def kill_drill(url: str, *, whole: bool) -> dict:
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("CREATE TABLE IF NOT EXISTS kills (id bigint PRIMARY KEY)")
    with Writers(url) as writers:
        time.sleep(3)
        killed = devcluster("kill", "--wipe", *(["--whole"] if whole else []))
        killed_at = time.time()  # the kill is the command's last act
        deadline = time.time() + 60
        while time.time() < deadline and not any(at > killed_at for _, at in writers.acknowledged[-5:]):
            time.sleep(0.5)
        time.sleep(3)
    if whole:
        devcluster("restart", killed)  # the machine comes back with an empty disk: Patroni clones it again
    # From the last acknowledgement before the kill to the first after it.
    times = sorted(at for _, at in writers.acknowledged)
    outage = max(b - a for a, b in itertools.pairwise(times) if b >= killed_at)
    ids = [row for row, _ in writers.acknowledged]
    with psycopg.connect(url, autocommit=True) as connection:
        present = connection.execute("SELECT count(*) FROM kills WHERE id = ANY(%s)", [ids]).fetchone()[0]
    deadline = time.time() + 120
    while time.time() < deadline and status()["sync_standby"] != killed:
        time.sleep(0.5)
    return {
        "acknowledged": len(ids),
        "lost": len(ids) - present,
        "write_outage_s": round(outage, 1),
        "sync_standby_again_s": round(time.time() - killed_at, 1) if status()["sync_standby"] == killed else None,
    }


def restore_drill(url: str, rows: int) -> dict:
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("CREATE TABLE IF NOT EXISTS records (id bigint PRIMARY KEY, body text)")
        started = time.monotonic()
        connection.execute(
            "INSERT INTO records SELECT g, repeat(md5(g::text), 6) FROM generate_series(1, %s) g", [rows]
        )
        load = time.monotonic() - started
        size = connection.execute("SELECT pg_size_pretty(pg_database_size(current_database()))").fetchone()[0]
    started = time.monotonic()
    devcluster("backup", "--type", "full")
    backup = time.monotonic() - started
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("INSERT INTO records VALUES (-1, 'after the backup')")
    started = time.monotonic()
    restored = json.loads(devcluster("restore").splitlines()[-1])
    with psycopg.connect(url, autocommit=True) as connection:
        present = connection.execute("SELECT count(*) FROM records").fetchone()[0]
    return {
        "rows": rows,
        "database_size": size,
        "load_s": round(load, 1),
        "full_backup_s": round(backup, 1),
        "restore_total_s": round(time.monotonic() - started, 1),
        **restored,
        "rows_present": present,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--http-runs", type=int, default=4)
    parser.add_argument("--http-seconds", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--records", type=int, default=50)
    parser.add_argument("--lookups", type=int, default=200)
    parser.add_argument("--ab-runs", type=int, default=6)
    parser.add_argument("--ab-seconds", type=float, default=5.0)
    parser.add_argument("--kills", type=int, default=3)
    parser.add_argument("--rows", type=int, default=1_000_000)
    # The smoke run (tests/test_bench.py) goes through the HTTP comparison, the commit comparison and the
    # restore, in tiny sizes; no kill (each costs about 20 s: tests/deploy/test_recovery.py drills one).
    args = parse_args(
        parser, http_runs=1, http_seconds=1.0, lookups=5, records=5, clients=2, ab_runs=1, ab_seconds=0.5,
        kills=0, rows=1000,
    )  # fmt: skip
    devcluster("reset")
    devcluster("start")
    url = devcluster("url", "postgres")
    if args.http_runs:
        print("the platform with and without the synchronous standby:", json.dumps(http_ab(url, args)), flush=True)
    if args.ab_runs:
        commit = commit_ab(url, args.ab_runs, args.ab_seconds)
        print("commit cost of the synchronous standby:", json.dumps(commit), flush=True)
    for whole in (False, True):
        for _ in range(args.kills):
            label = "whole node" if whole else "postmaster + disk"
            print(f"failover, {label} killed:", json.dumps(kill_drill(url, whole=whole)), flush=True)
    if args.rows:
        print("restore:", json.dumps(restore_drill(url, args.rows)), flush=True)
    devcluster("reset")


if __name__ == "__main__":
    main()
