"""Lookups A/B, request by request: one gunicorn per checkout, every call sent to each in turn.

    uv run python bench/ab_lookup.py [--calls 1000] [--batches 5] \\
        before=/work/wt-before:bench_before after=/work/wt-perf:bench_after [again=/work/wt-perf:bench_after]

Each side is NAME=CHECKOUT:DATABASE, a database bench/lookup.py loaded (run it once per database
first; every side must hold the same --records). On a shared machine whose speed swings by half
within minutes, runs of a whole benchmark in turn (bench/ab.py) differ by more than the changes
measured here; sending the same request to every side one after the other puts each side under
the same moment. For each asked token, in an order that rotates the side that goes first:
``GET /healthz`` (the floor: no database) then the single lookup, on each side. Then
10,000-identifier lookups at 10 % and 100 % hits, the same identifiers to every side. The same
checkout named twice (an A/A) shows how far two sides of one code land apart: the noise.
Printed per side: floor and single-lookup p50/p99, the single lookup's p50 over its floor's,
the batches' medians, and each figure against the first side, with the spread of the p50 ratio
over five consecutive blocks of the calls.
"""

from __future__ import annotations

import os
import sys

# bench/tokenize.py shadows the standard library's tokenize for scripts run from this folder.
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != os.path.dirname(os.path.abspath(__file__))]

import argparse
import http.client
import importlib.util
import random
import statistics
import subprocess
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from bench.common import parse_args

_spec = importlib.util.spec_from_file_location("bench_ingest", Path(__file__).with_name("ingest.py"))
ingest = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ingest)
_spec = importlib.util.spec_from_file_location("bench_lookup", Path(__file__).with_name("lookup.py"))
lookup = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(lookup)

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
        self.env = {
            **ingest.django_env(
                {
                    "RISKSHARE_LOOKUP_REQUESTS_PER_MINUTE": "1000000",
                    "RISKSHARE_LOOKUP_IDENTIFIERS_PER_DAY": "1000000000",
                }
            ),
            "DATABASE_URL": self.url,
        }
        self.python = str(self.checkout / ".venv" / "bin" / "python")
        self.floor: list[float] = []
        self.single: list[float] = []
        self.batches: dict[float, list[float]] = {0.1: [], 1.0: []}

    def start(self, uscc: str) -> None:
        out = subprocess.run(
            [self.python, "manage.py", "credential_issue", "--uscc", uscc, "--scopes", "lookups"],
            cwd=self.checkout,
            env=self.env,
            capture_output=True,
            text=True,
            check=True,
        )
        self.headers = {"Authorization": f"Bearer {out.stdout.strip().splitlines()[-1]}"}
        self.headers["Content-Type"] = "application/json"
        # One worker: the client sends one request at a time.
        command = [self.python, "-m", "gunicorn", "config.wsgi", "-w", "1", "-b", f"127.0.0.1:{self.port}"]
        self.process = subprocess.Popen(
            [*command, "--timeout", "300", "--log-level", "warning"], cwd=self.checkout, env=self.env
        )
        self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=300)
        for _ in range(150):
            try:
                self.call("GET", "/healthz", None)
                return
            except (ConnectionError, OSError):
                self.conn.close()
                time.sleep(0.2)
        sys.exit(f"{self.name}: gunicorn did not start")

    def call(self, method: str, path: str, body: bytes | None) -> float:
        started = time.perf_counter()
        self.conn.request(method, path, body=body, headers=self.headers if body else {})
        response = self.conn.getresponse()
        response.read()
        elapsed = time.perf_counter() - started
        if response.status != 200:
            sys.exit(f"{self.name}: {method} {path} failed: {response.status}")
        return elapsed

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait()


def batch_body(tokens: list[str]) -> bytes:
    import orjson

    identifiers = [{"type": "cn_mobile", "token": token} for token in tokens]
    return orjson.dumps({"purpose": "post_loan_monitoring", "key_version": 1, "identifiers": identifiers})


def block_ratios(values: list[float], reference: list[float]) -> tuple[float, float]:
    """The p50 ratio to the reference side over consecutive blocks of the calls: its lowest and highest."""
    size = len(values) // BLOCKS
    ratios = [
        statistics.median(values[n * size : (n + 1) * size]) / statistics.median(reference[n * size : (n + 1) * size])
        for n in range(BLOCKS)
    ]
    return min(ratios), max(ratios)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=1_000_000, help="as the databases were loaded")
    parser.add_argument("--calls", type=int, default=1000, help="single lookups per side")
    parser.add_argument("--batches", type=int, default=5, help="10,000-identifier lookups per side and hit rate")
    parser.add_argument("--port", type=int, default=8800, help="the first side's; the others follow")
    parser.add_argument("sides", nargs="+", metavar="NAME=CHECKOUT:DATABASE")
    args = parse_args(parser, records=10_000, calls=20, batches=1)

    import orjson
    import psycopg

    from core.uscc import uscc_check_character

    bodies = ingest.make_bodies(args.records, 10_000)
    known = [r["identifiers"][1]["token"] for body in bodies[:20] for r in orjson.loads(body)["records"]]
    del bodies
    rng = random.Random(3)  # noqa: S311 - sampling benchmark inputs
    sample = rng.sample(known, min(len(known), args.calls))
    uscc = "91110000MA00BENCH" + uscc_check_character("91110000MA00BENCH")
    sides = [Side(spec, args.port + n) for n, spec in enumerate(args.sides)]
    for database in dict.fromkeys(side.url for side in sides):
        with psycopg.connect(database, autocommit=True) as conn:
            print(f"{urlsplit(database).path[1:]}: {lookup.prewarm(conn)}", flush=True)
    try:
        for side in sides:
            side.start(uscc)
        # A side started first may have its keep-alive connection lapse (gunicorn.conf.py: 5 s) while the
        # next one starts: a broken pipe on its first request. Each side's next call connects afresh.
        for side in sides:
            side.conn.close()
        for token in sample[:50]:  # warm up connections and caches
            for side in sides:
                side.call("POST", "/api/v1/lookups", lookup.single_lookup_body(token))
        for n, token in enumerate(sample):
            body = lookup.single_lookup_body(token)
            for side in sides[n % len(sides) :] + sides[: n % len(sides)]:
                side.floor.append(side.call("GET", "/healthz", None))
                side.single.append(side.call("POST", "/api/v1/lookups", body))
        for n in range(args.batches):
            for hits in (0.1, 1.0):
                chosen = rng.sample(known, int(10_000 * hits))
                chosen += [os.urandom(32).hex() for _ in range(10_000 - len(chosen))]
                body = batch_body(chosen)
                for side in sides[n % len(sides) :] + sides[: n % len(sides)]:
                    side.batches[hits].append(side.call("POST", "/api/v1/lookups", body))
    finally:
        for side in sides:
            side.stop()

    ms = 1000
    first = sides[0]
    print(f"\n{len(sample)} single lookups and {args.batches} batches of each kind per side, interleaved")
    header = f"{'side':<10} {'floor p50':>9} {'p99':>6} {'single p50':>10} {'p99':>6} {'/floor':>6}"
    print(header + f" {'10k@10%':>8} {'10k@100%':>9}   against {first.name}: single p50 (block range), p99, batches")
    for side in sides:
        single50, floor50 = statistics.median(side.single), statistics.median(side.floor)
        line = (
            f"{side.name:<10} {floor50 * ms:>9.2f} {lookup.percentile(side.floor, 0.99) * ms:>6.2f} "
            f"{single50 * ms:>10.2f} {lookup.percentile(side.single, 0.99) * ms:>6.2f} {single50 / floor50:>6.2f} "
            f"{statistics.median(side.batches[0.1]) * ms:>8.0f} {statistics.median(side.batches[1.0]) * ms:>9.0f}"
        )
        if side is not first:
            low, high = block_ratios(side.single, first.single)
            change = single50 / statistics.median(first.single) - 1
            p99 = lookup.percentile(side.single, 0.99) / lookup.percentile(first.single, 0.99) - 1
            batch = [statistics.median(side.batches[h]) / statistics.median(first.batches[h]) - 1 for h in (0.1, 1.0)]
            line += f"   {change:+.1%} ({low - 1:+.1%}..{high - 1:+.1%}), {p99:+.1%}, {batch[0]:+.1%} / {batch[1]:+.1%}"
        print(line)


if __name__ == "__main__":
    main()
