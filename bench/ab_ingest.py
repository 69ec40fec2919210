"""Batch ingest A/B, request by request: one gunicorn per checkout, each batch POSTed to each in turn.

    uv run python bench/ab_ingest.py [--records 300000] \\
        before=/work/wt-before:bench_ingest_before after=/work/wt-perf:bench_ingest_after

Each side is NAME=CHECKOUT:DATABASE; the database is dropped and created again, migrated by that
checkout, with bench/ingest.py's member, credential and consortium key. The same 10,000-record
batches (bench/ingest.py's data) go to every side one after the other, in an order that rotates
the side that goes first, from one client: on a shared machine whose speed swings within minutes,
this puts each side under the same moment, which whole runs in turn (bench/ab.py) do not. No
Celery worker runs: matching jobs queue up, as in bench/ingest.py. Printed per side: the POST's
p50 and p95, records/s at the p50, and the p50 against the first side with its spread over five
consecutive blocks of the batches. The same checkout named twice (an A/A) shows the noise.
"""

from __future__ import annotations

import os
import sys

# bench/tokenize.py shadows the standard library's tokenize for scripts run from this folder.
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != os.path.dirname(os.path.abspath(__file__))]

import argparse
import http.client
import importlib.util
import secrets
import statistics
import subprocess
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from bench.common import fresh_database, parse_args

_spec = importlib.util.spec_from_file_location("bench_ingest", Path(__file__).with_name("ingest.py"))
ingest = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ingest)

BLOCKS = 5


class Side:
    def __init__(self, spec: str, port: int, url: str | None = None):
        self.name, _, where = spec.partition("=")
        checkout, _, self.database = where.partition(":")
        self.checkout = Path(checkout)
        self.port = port
        # ``url``: the database on another server than DATABASE_URL's (bench/citus.py: a Citus coordinator).
        server = urlsplit(os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"))
        self.url = url or urlunsplit(server._replace(path=f"/{self.database}"))
        broker = os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/14")
        queue = f"bench-ab-{secrets.token_hex(4)}"  # no worker consumes it
        self.env = {
            **ingest.django_env({"CELERY_BROKER_URL": broker, "CELERY_TASK_DEFAULT_QUEUE": queue}),
            "DATABASE_URL": self.url,
        }
        self.python = str(self.checkout / ".venv" / "bin" / "python")
        self.posts: list[float] = []

    def manage(self, *arguments: str) -> str:
        return subprocess.run(
            [self.python, "manage.py", *arguments],
            cwd=self.checkout,
            env=self.env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout

    def setup(self) -> None:
        """As bench/ingest.py's setup_database, with this checkout's own migrations and commands."""
        import psycopg

        from core.uscc import uscc_check_character

        with psycopg.connect(ingest.admin_url(), autocommit=True) as conn:
            fresh_database(conn, self.database, checkout=self.checkout)
        self.manage("migrate", "-v", "0")
        uscc = "91110000MA00BENCH" + uscc_check_character("91110000MA00BENCH")
        self.manage(
            "member_create",
            *("--name", "Bench", "--uscc", uscc, "--kind", "bank", "--licence-number", "B"),
            *("--licence-expiry", "2099-01-01", "--activate"),
        )
        key = self.manage("credential_issue", "--uscc", uscc, "--scopes", "records:write").strip().splitlines()[-1]
        self.headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(
                "INSERT INTO sharing_consortiumkey (version, state, check_value, created_at, created_by, retired_by, "
                "retired_reason) VALUES (1, 'current', '0000000000000000', now(), 'bench', '', '')"
            )

    def start(self) -> None:
        command = [self.python, "-m", "gunicorn", "config.wsgi", "-w", "1", "-b", f"127.0.0.1:{self.port}"]
        self.process = subprocess.Popen(
            [*command, "--timeout", "300", "--log-level", "warning"], cwd=self.checkout, env=self.env
        )
        self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=300)
        for _ in range(150):
            try:
                self.conn.request("GET", "/healthz")
                self.conn.getresponse().read()
                return
            except OSError:
                self.conn.close()
                time.sleep(0.2)
        sys.exit(f"{self.name}: gunicorn did not start")

    def post(self, index: int, body: bytes) -> None:
        import orjson

        # A fresh connection for each batch: while the other sides' batches are sent, this side's keep-alive
        # (gunicorn.conf.py: 5 s) may lapse on a loaded machine; a local connect costs ~0.1 ms of ~1 s.
        self.conn.close()
        started = time.perf_counter()
        self.conn.request(
            "POST", "/api/v1/batches", body=body, headers={**self.headers, "Idempotency-Key": f"ab-{index}"}
        )
        response = self.conn.getresponse()
        answer = response.read()
        self.posts.append(time.perf_counter() - started)
        if response.status != 202 or orjson.loads(answer)["rejected"]:
            sys.exit(f"{self.name}: batch {index} failed: {response.status} {answer[:300]!r}")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=300_000)
    parser.add_argument("--port", type=int, default=8900, help="the first side's; the others follow")
    parser.add_argument("sides", nargs="+", metavar="NAME=CHECKOUT:DATABASE")
    args = parse_args(parser, records=2_000)

    bodies = ingest.make_bodies(args.records, 10_000)
    sides = [Side(spec, args.port + n) for n, spec in enumerate(args.sides)]
    for side in sides:
        side.setup()
    try:
        for side in sides:
            side.start()
        for n, body in enumerate(bodies):
            for side in sides[n % len(sides) :] + sides[: n % len(sides)]:
                side.post(n, body)
    finally:
        for side in sides:
            side.stop()

    first = sides[0]
    print(f"\n{len(bodies)} batches of 10,000 records per side, interleaved, one client, one worker each")
    print(f"{'side':<10} {'POST p50 ms':>11} {'p95':>6} {'records/s':>10}   p50 against {first.name} (block range)")
    size = len(bodies) // BLOCKS
    for side in sides:
        p50 = statistics.median(side.posts)
        p95 = sorted(side.posts)[int(len(side.posts) * 0.95) - 1]
        line = f"{side.name:<10} {p50 * 1000:>11.0f} {p95 * 1000:>6.0f} {10_000 / p50:>10,.0f}"
        if side is not first:
            ratios = [
                statistics.median(side.posts[b * size : (b + 1) * size])
                / statistics.median(first.posts[b * size : (b + 1) * size])
                for b in range(BLOCKS)
            ]
            line += (
                f"   {p50 / statistics.median(first.posts) - 1:+.1%} ({min(ratios) - 1:+.1%}..{max(ratios) - 1:+.1%})"
            )
        print(line)


if __name__ == "__main__":
    main()
