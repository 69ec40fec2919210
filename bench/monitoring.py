"""Post-loan monitoring's targets as ratios and latencies, in one run.

    uv run python bench/monitoring.py [--records 1000000] [--watches 1000000] [--post-only]

Needs PostgreSQL and Redis as bench/ingest.py does (its own database riskshare_bench_monitoring, or
$RISKSHARE_BENCH_DB, dropped and re-created). In one run:

1. matching without watches: the records POSTed (gunicorn, 2 workers, no Celery worker running), then
   a Celery worker (one process per core) matches the queued batches: records/s;
2. watches: another member POSTs ``--watches`` watches in requests of 10,000 (10 % on tokens of the
   records): the p50 of a 10,000-watch POST against the p50 of a 10,000-record batch POST from step 1;
3. matching with the watches: the records truncated and POSTed again, matched again (producing the
   events of the watched 10 %): the ratio to step 1 (target >= 0.85);
4. batch 202 → webhook received: with one worker and an otherwise idle platform, small batches on
   watched tokens, each timed from its 202 to the last of its deliveries at a local receiver (p50, target
   <= 5 s);
5. delivery throughput: every event replayed to the endpoint, two worker processes: deliveries/s
   (target >= 500).

``--post-only`` stops after step 2 (the POST ratio alone), for alternating runs of two checkouts
(``bench/ab.py … -- monitoring.py --post-only``).
"""

from __future__ import annotations

import importlib.util
import os
import sys

sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != os.path.dirname(os.path.abspath(__file__))]

import argparse
import datetime as dt
import random
import secrets
import statistics
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.common import parse_args

_spec = importlib.util.spec_from_file_location("bench_ingest", ROOT / "bench" / "ingest.py")
ingest = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ingest)
# Its own database, not bench/ingest.py's: the two may run at the same time on a shared machine.
ingest.BENCH_DB = os.environ.get("RISKSHARE_BENCH_DB", "riskshare_bench_monitoring")


def manage(env, *args) -> str:
    out = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True, capture_output=True, text=True
    )
    return out.stdout


def second_member(env) -> str:
    """A watching member with its own monitoring credential."""
    from core.uscc import uscc_check_character

    uscc = "91110000MA00WATCH"
    uscc += uscc_check_character(uscc)
    manage(
        env,
        "member_create",
        "--name",
        "Watcher",
        "--uscc",
        uscc,
        "--kind",
        "bank",
        "--licence-number",
        "W",
        "--licence-expiry",
        "2099-01-01",
        "--activate",
    )
    return manage(env, "credential_issue", "--uscc", uscc, "--scopes", "monitoring").strip().splitlines()[-1]


def record_tokens(bodies: list[bytes]) -> list[str]:
    import orjson

    return [r["identifiers"][1]["token"] for body in bodies for r in orjson.loads(body)["records"]]


def watch_bodies(count: int, watched: list[str], batch: int = 10_000) -> tuple[list[bytes], list[str]]:
    import orjson

    rng = random.Random(f"watches:{count}")  # noqa: S311 - benchmark data
    expires = (dt.date.today() + dt.timedelta(days=365)).isoformat()
    tenth = min(count // 10, len(watched))
    on_records = rng.sample(watched, tenth)
    tokens = on_records + [rng.randbytes(32).hex() for _ in range(count - tenth)]
    rng.shuffle(tokens)
    bodies = []
    for start in range(0, count, batch):
        rows = [
            {
                "reference": f"W-{n:08d}",
                "identifiers": [{"type": "cn_mobile", "token": tokens[n]}],
                "expires_on": expires,
            }
            for n in range(start, min(start + batch, count))
        ]
        bodies.append(orjson.dumps({"key_version": 1, "consent_reference": "bench-consent", "watches": rows}))
    return bodies, on_records


def post_all(port: int, key: str, path: str, bodies: list[bytes], prefix: str, status: int) -> list[float]:
    import httpx

    latencies = []
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=600) as http:
        for index, body in enumerate(bodies):
            started = time.perf_counter()
            response = http.post(
                path,
                content=body,
                headers={
                    "Authorization": f"Bearer {key}",
                    "Content-Type": "application/json",
                    "Idempotency-Key": f"{prefix}-{index}",
                },
            )
            latencies.append(time.perf_counter() - started)
            if response.status_code != status or response.json().get("rejected"):
                sys.exit(f"{path} failed: {response.status_code} {response.text[:300]}")
    return latencies


def worker(env, processes: int) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "--quiet",  # no banner: the output is the figures
            "worker",
            "-P",
            "prefork",
            "-c",
            str(processes),
            "-Q",
            env["CELERY_TASK_DEFAULT_QUEUE"],
            "-l",
            "WARNING",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ],
        cwd=ROOT,
        env=env,
    )


def sql(query: str, params=()):
    import psycopg

    with psycopg.connect(ingest.server_url(), autocommit=True) as conn:
        return conn.execute(query, params).fetchall()


def wait(condition, timeout: float = 3600, interval: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            sys.exit("timed out")
        time.sleep(interval)


def match_time(env, processes: int) -> float:
    process = worker(env, processes)
    started = time.perf_counter()
    try:
        wait(lambda: not sql("SELECT count(*) FROM sharing_batch WHERE status <> 'done'")[0][0], interval=0.2)
    finally:
        process.terminate()
        process.wait()
    return time.perf_counter() - started


class Receiver:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.seen: dict[str, float] = {}
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                self.rfile.read(int(self.headers.get("content-length") or 0))
                with receiver.lock:
                    receiver.seen.setdefault(self.headers["webhook-id"], time.perf_counter())
                self.send_response(204)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"


def post_ratio(batch_latencies: list[float], watch_latencies: list[float]) -> None:
    batch_p50, watch_p50 = statistics.median(batch_latencies), statistics.median(watch_latencies)
    print(
        f"POST of 10,000 watches p50 {watch_p50 * 1000:.0f} ms vs 10,000-record batch p50 {batch_p50 * 1000:.0f} ms: "
        f"ratio {watch_p50 / batch_p50:.3f} (target <= 1.5)",
        flush=True,
    )


def main() -> None:
    import httpx

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--watches", type=int, default=1_000_000)
    parser.add_argument("--port", type=int, default=8791)
    parser.add_argument("--latency-batches", type=int, default=10)
    parser.add_argument("--post-only", action="store_true", help="stop after the watches POST (step 2)")
    args = parse_args(parser, records=10_000, watches=1_000, latency_batches=2)
    cores = os.cpu_count() or 1

    queue = f"bench-{secrets.token_hex(4)}"
    broker = os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/14")
    env = ingest.django_env(
        {"CELERY_BROKER_URL": broker, "CELERY_TASK_DEFAULT_QUEUE": queue, "RISKSHARE_WEBHOOK_ALLOW_HOSTS": "127.0.0.1"}
    )
    os.environ.update({k: v for k, v in env.items() if k != "CELERY_BROKER_URL"})
    print(f"preparing {args.records:,} records and {args.watches:,} watches …", flush=True)
    bodies = ingest.make_bodies(args.records, 10_000)
    key = ingest.setup_database(env)
    watcher = second_member(env)
    watched_pool = record_tokens(bodies)
    watches, on_records = watch_bodies(args.watches, watched_pool)

    gunicorn = ingest.start_gunicorn(env, args.port)
    try:
        batch_latencies = post_all(args.port, key, "/api/v1/batches", bodies, "a", 202)
        if args.post_only:
            watch_latencies = post_all(args.port, watcher, "/api/v1/watches", watches, "w", 200)
            post_ratio(batch_latencies, watch_latencies)
            return
        plain = match_time(env, cores)
        watch_latencies = post_all(args.port, watcher, "/api/v1/watches", watches, "w", 200)
        ingest.truncate()
        post_all(args.port, key, "/api/v1/batches", bodies, "b", 202)
        watched = match_time(env, cores)
        events = sql("SELECT count(*) FROM sharing_monitoringevent")[0][0]

        receiver = Receiver()
        client = httpx.Client(
            base_url=f"http://127.0.0.1:{args.port}", timeout=60, headers={"Authorization": f"Bearer {watcher}"}
        )
        endpoint = client.post("/api/v1/webhook-endpoints", json={"url": receiver.url}).json()["id"]

        one = worker(env, 1)
        time.sleep(3)
        delays = []
        try:
            rng = random.Random("latency")  # noqa: S311
            targets = rng.sample(on_records, args.latency_batches * 10)
            for n in range(args.latency_batches):
                records = [
                    {
                        "reference": f"LAT-{n}-{i}",
                        "kind": "blacklist",
                        "category": "fraud_ring",
                        "identifiers": [{"type": "cn_mobile", "token": token}],
                        "key_version": 1,
                        "event_date": "2025-06-10",
                    }
                    for i, token in enumerate(targets[n * 10 : (n + 1) * 10])
                ]
                import orjson

                before = set(receiver.seen)
                started = time.perf_counter()
                post_all(args.port, key, "/api/v1/batches", [orjson.dumps({"records": records})], f"lat{n}", 202)
                wait(lambda before=before: len(set(receiver.seen) - before) >= 10, timeout=120, interval=0.01)
                delays.append(max(receiver.seen[i] for i in set(receiver.seen) - before) - started)
        finally:
            one.terminate()
            one.wait()

        (last,) = sql("SELECT max(id) FROM sharing_monitoringevent")[0]
        replayed = min(events, 20_000)
        receiver.seen.clear()
        two = worker(env, 2)
        try:
            time.sleep(3)
            started = time.perf_counter()
            queued = client.post(f"/api/v1/webhook-endpoints/{endpoint}/replay", json={"after": last - replayed})
            count = queued.json()["queued"]
            wait(lambda: len(receiver.seen) >= count, timeout=1800, interval=0.05)
            rate = count / (time.perf_counter() - started)
        finally:
            two.terminate()
            two.wait()
    finally:
        gunicorn.terminate()
        gunicorn.wait()

    matched = args.records
    print(f"matching without watches: {matched / plain:,.0f} records/s ({plain:.1f}s, {cores} worker processes)")
    print(
        f"matching with {args.watches:,} watches: {matched / watched:,.0f} records/s "
        f"({watched:.1f}s, {events:,} events)"
        f"; ratio {plain / watched:.2f} (target >= 0.85)"
    )
    post_ratio(batch_latencies, watch_latencies)
    print(
        f"batch 202 -> its 10 webhooks received, one worker: p50 {statistics.median(delays):.2f} s, "
        f"max {max(delays):.2f} s over {len(delays)} batches (target p50 <= 5 s)"
    )
    print(f"webhook delivery, two worker processes: {rate:,.0f} deliveries/s ({count:,} replayed) (target >= 500)")


if __name__ == "__main__":
    main()
