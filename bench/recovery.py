"""Recovery point and recovery time on the drill cluster (deploy/ha/devcluster), and what the synchronous
standby costs a commit.

    uv run python bench/recovery.py [--ab-runs 6] [--kills 3] [--rows 1000000]     (as root; 0 skips a part)

Starts the cluster afresh under var/ha (etcd, two Patroni nodes in synchronous mode, pgBackRest) and prints:

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
import statistics
import subprocess
import threading
import time

import psycopg

ROOT = Path(__file__).resolve().parent.parent
DEVCLUSTER = ROOT / "deploy" / "ha" / "devcluster"


def devcluster(*args: str) -> str:
    result = subprocess.run([sys.executable, str(DEVCLUSTER), *args], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise SystemExit(f"devcluster {' '.join(args)} failed:\n{result.stderr[-2000:]}")
    return result.stdout.strip()


def status() -> dict:
    return json.loads(devcluster("status"))


def commit_ab(url: str, runs: int) -> dict:
    rows = [(i, "x" * 150) for i in range(50)]
    results: dict[str, list[tuple[float, float]]] = {"on": [], "local": []}
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("CREATE TABLE IF NOT EXISTS ab (id bigserial PRIMARY KEY, n int, body text)")
        for run in range(runs * 2):
            mode = ("on", "local")[run % 2]
            connection.execute(f"SET synchronous_commit = {mode}")
            latencies, end = [], time.monotonic() + 5
            while time.monotonic() < end:
                started = time.monotonic()
                with connection.transaction(), connection.cursor() as cursor:
                    cursor.executemany("INSERT INTO ab (n, body) VALUES (%s, %s)", rows)
                latencies.append(time.monotonic() - started)
            results[mode].append((len(latencies) / 5, statistics.median(latencies)))
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
    parser.add_argument("--ab-runs", type=int, default=6)
    parser.add_argument("--kills", type=int, default=3)
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    devcluster("reset")
    devcluster("start")
    url = devcluster("url", "postgres")
    if args.ab_runs:
        print("commit cost of the synchronous standby:", json.dumps(commit_ab(url, args.ab_runs)), flush=True)
    for whole in (False, True):
        for _ in range(args.kills):
            label = "whole node" if whole else "postmaster + disk"
            print(f"failover, {label} killed:", json.dumps(kill_drill(url, whole=whole)), flush=True)
    if args.rows:
        print("restore:", json.dumps(restore_drill(url, args.rows)), flush=True)
    devcluster("reset")


if __name__ == "__main__":
    main()
