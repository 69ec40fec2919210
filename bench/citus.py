"""The same platform on a Citus cluster and on one PostgreSQL, in one run: issue 32's ratios.

    uv run python bench/citus.py [--records 150000] [--calls 1000] [--batches 9] [--ingest-records 100000]

Needs root or postgres (deploy/citus/devcluster runs the nodes), Citus installed, and Redis
(CELERY_BROKER_URL; batches are enqueued to a queue of this run that no worker reads). The cluster is
the devcluster of this checkout (RISKSHARE_CITUS_PORT_OFFSET moves its ports): started if it is not
running, and then stopped at the end. Three databases hold the same records (bench/ingest.py's data,
COPYed, their summaries built by the full recomputation, as bench/lookup.py loads them):

  plain  $RISKSHARE_BENCH_DB (default riskshare_bench_citus) on DATABASE_URL's PostgreSQL;
  c32    NAME_c32 on the cluster (``devcluster createdb``), distributed by migrate in Citus's default 32 shards;
  c64    NAME_c64 on the cluster, its ``citus.shard_count`` set to 64 before migrate distributes.

Each side is served by its own gunicorn (one worker) and measured request by request, each request sent
to every side in turn with the side that goes first rotating (bench/ab_lookup.py, bench/ab_ingest.py):
a loaded two-core machine swings more within minutes than the differences measured. The plain side is
the floor every ratio is taken to, except 64 shards, taken to 32:

  - single-identifier lookup p50, cluster / plain (target <= 1.5) and 64 / 32 shards (<= 1.1);
  - 10,000-identifier lookup (10 % hits) median, cluster / plain (<= 1.5);
  - HTTP ingest (POST /api/v1/batches of --batch records) records/s at the p50, cluster / plain (>= 0.5);
  - matching (``batch_process`` of each accepted batch, in a Django process per side) records/s, cluster /
    plain (>= 0.5).

The last line is the figures as JSON, each ratio with its target and whether it is met. A missed target
is a figure, not a failure: the exit status is nonzero only when something broke. The databases are
dropped at the end, on every node.
"""

from __future__ import annotations

import os
import sys

# bench/tokenize.py shadows the standard library's tokenize for scripts run from this folder.
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != os.path.dirname(os.path.abspath(__file__))]

import argparse
import contextlib
import importlib.util
import json
import random
import statistics
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from bench.common import fresh_database, parse_args


def _load(name: str, file: str):
    spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name(file))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


ingest = _load("bench_ingest", "ingest.py")
lookup = _load("bench_lookup", "lookup.py")
ab_lookup = _load("bench_ab_lookup", "ab_lookup.py")
ab_ingest = _load("bench_ab_ingest", "ab_ingest.py")

ROOT = Path(__file__).resolve().parent.parent
DEVCLUSTER = [sys.executable, str(ROOT / "deploy" / "citus" / "devcluster")]
PLAIN_DB = os.environ.get("RISKSHARE_BENCH_DB", "riskshare_bench_citus")
SHARDS = {"c32": 32, "c64": 64}

# A Django process per side that matches the next accepted batch each time it reads a line, and answers
# with its records and seconds: matching interleaved batch by batch, as the requests are.
MATCHER = """
import sys, time, django
django.setup()
from sharing.records.models import Batch
from sharing.records.services import batch_process
for _ in sys.stdin:
    batch_id, accepted = Batch.objects.filter(status="received").order_by("pk").values_list("pk", "accepted")[0]
    started = time.perf_counter()
    assert batch_process(batch_id=batch_id)
    print(accepted, time.perf_counter() - started, flush=True)
"""


def devcluster(*arguments: str) -> str:
    done = subprocess.run([*DEVCLUSTER, *arguments], cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"devcluster {' '.join(arguments)} failed:\n{done.stdout}{done.stderr}")
    return done.stdout


def cluster_running() -> bool:
    # ``status`` prints the nodes either way and exits nonzero while they are stopped.
    done = subprocess.run([*DEVCLUSTER, "status"], cwd=ROOT, capture_output=True, text=True)
    return all(node["running"] for node in json.loads(done.stdout)["nodes"].values())


def plain_url(database: str) -> str:
    server = urlsplit(os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"))
    return urlunsplit(server._replace(path=f"/{database}"))


def database_create(side: str, database: str) -> str:
    """An empty database for ``side`` (dropped first if a previous run left it), its URL."""
    import psycopg

    if side == "plain":
        with psycopg.connect(plain_url("postgres"), autocommit=True) as conn:
            fresh_database(conn, database)
        return plain_url(database)
    devcluster("dropdb", database)
    devcluster("createdb", database)
    url = devcluster("url", database).strip()
    # migrate's create_distributed_table takes the session's citus.shard_count: the database's default.
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'ALTER DATABASE "{database}" SET citus.shard_count = {SHARDS[side]}')
    return url


def database_drop(side: str, database: str) -> None:
    import psycopg

    if side != "plain":
        devcluster("dropdb", database)
        return
    with psycopg.connect(plain_url("postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def prepared(side: str, url: str, bodies: list[bytes]) -> None:
    """Migrated by this checkout, the benchmark's member, consortium key and records, their summaries built."""
    import psycopg

    env = {**ingest.django_env({}), "DATABASE_URL": url}
    started = time.perf_counter()
    ingest.migrated_with_member(env, scopes="records:write")
    print(f"{side}: migrated in {time.perf_counter() - started:.0f}s", flush=True)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO sharing_consortiumkey (version, state, check_value, created_at, created_by, retired_by, "
            "retired_reason) VALUES (1, 'current', '0000000000000000', now(), 'bench', '', '')"
        )
        if side != "plain":
            shards = conn.execute(
                "SELECT count(*) FROM pg_dist_shard WHERE logicalrelid = 'sharing_tokensummary'::regclass"
            ).fetchone()[0]
            if shards != SHARDS[side]:
                sys.exit(f"{side}: the summaries have {shards} shards, not {SHARDS[side]}")
    started = time.perf_counter()
    lookup.load_and_match(bodies, env)
    print(f"{side}: loaded and matched in {time.perf_counter() - started:.0f}s", flush=True)


def rotated(sides: list, n: int) -> list:
    return sides[n % len(sides) :] + sides[: n % len(sides)]


def measure_lookups(urls: dict[str, str], known: list[str], args: argparse.Namespace) -> dict[str, dict]:
    """Single lookups on every side, then 10,000-identifier lookups at 10 % hits; each request to each side
    in turn."""
    import psycopg

    from core.uscc import uscc_check_character

    rng = random.Random(3)  # noqa: S311 - sampling benchmark inputs
    sample = rng.sample(known, min(len(known), args.calls))
    uscc = "91110000MA00BENCH" + uscc_check_character("91110000MA00BENCH")
    sides = [ab_lookup.Side(f"{name}={ROOT}:{name}", args.port + n, url) for n, (name, url) in enumerate(urls.items())]
    for side in sides:
        with psycopg.connect(side.url, autocommit=True) as conn:
            print(f"{side.name}: {lookup.prewarm(conn)}", flush=True)
    try:
        for side in sides:
            side.start(uscc)
        for side in sides:  # a keep-alive that lapsed while the next side started: connect afresh
            side.conn.close()
        for token in sample[:50]:  # warm up connections, caches and the workers' shard connections
            for side in sides:
                side.call("POST", "/api/v1/lookups", lookup.single_lookup_body(token))
        for n, token in enumerate(sample):
            body = lookup.single_lookup_body(token)
            for side in rotated(sides, n):
                side.floor.append(side.call("GET", "/healthz", None))
                side.single.append(side.call("POST", "/api/v1/lookups", body))
        for n in range(args.batches):
            chosen = rng.sample(known, min(len(known), 1_000))
            chosen += [os.urandom(32).hex() for _ in range(10_000 - len(chosen))]
            body = ab_lookup.batch_body(chosen)
            for side in rotated(sides, n):
                # Its keep-alive (gunicorn.conf.py: 5 s) lapses while the other sides' 10k lookups run: a broken
                # pipe sending this body. A fresh connection for each, as bench/ab_ingest.py does for batches.
                side.conn.close()
                side.batches[0.1].append(side.call("POST", "/api/v1/lookups", body))
    finally:
        for side in sides:
            side.stop()
    return {
        side.name: {
            "healthz_p50_ms": statistics.median(side.floor) * 1000,
            "single_p50_ms": statistics.median(side.single) * 1000,
            "single_p99_ms": lookup.percentile(side.single, 0.99) * 1000,
            "lookup_10k_ms": statistics.median(side.batches[0.1]) * 1000,
        }
        for side in sides
    }


def measure_ingest(urls: dict[str, str], args: argparse.Namespace) -> dict[str, dict]:
    """Batches POSTed to every side in turn (no worker matches them), then matched batch by batch in turn."""
    import redis

    from core.uscc import uscc_check_character

    uscc = "91110000MA00BENCH" + uscc_check_character("91110000MA00BENCH")
    broker = os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/14")
    bodies = ingest.make_bodies(args.ingest_records, args.batch, prefix="CITUS")
    sides = [ab_ingest.Side(f"{name}={ROOT}:{name}", args.port + n, url) for n, (name, url) in enumerate(urls.items())]
    matchers: dict[str, subprocess.Popen] = {}
    matched: dict[str, list[float]] = {side.name: [] for side in sides}
    try:
        for side in sides:
            key = side.manage("credential_issue", "--uscc", uscc, "--scopes", "records:write").strip().splitlines()[-1]
            side.headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
            side.start()
        for n, body in enumerate(bodies):
            for side in rotated(sides, n):
                side.post(n, body)
        for side in sides:
            side.stop()
            matchers[side.name] = subprocess.Popen(
                [sys.executable, "-c", MATCHER],
                cwd=ROOT,
                env={**side.env, "DJANGO_SETTINGS_MODULE": "config.settings"},
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
        for n in range(len(bodies)):
            for side in rotated(sides, n):
                matcher = matchers[side.name]
                matcher.stdin.write("next\n")
                matcher.stdin.flush()
                answer = matcher.stdout.readline().split()
                if len(answer) != 2:
                    sys.exit(f"{side.name}: matching batch {n} failed")
                matched[side.name].append(int(answer[0]) / float(answer[1]))
    finally:
        for side in sides:
            with contextlib.suppress(AttributeError):
                side.stop()
        for matcher in matchers.values():
            matcher.stdin.close()
            matcher.wait()
        # The matching jobs the POSTs enqueued, and the log sequencing the matching did: nobody reads them.
        client = redis.Redis.from_url(broker)
        for side in sides:
            queue = side.env["CELERY_TASK_DEFAULT_QUEUE"]
            client.delete(queue, f"_kombu.binding.{queue}", f"_kombu.binding_permanent.{queue}")
    return {
        side.name: {
            "post_p50_ms": statistics.median(side.posts) * 1000,
            "ingest_records_per_s": args.batch / statistics.median(side.posts),
            "matching_records_per_s": statistics.median(matched[side.name]),
        }
        for side in sides
    }


def ratio(value: float, floor: float, target: str) -> dict:
    figure = value / floor
    bound = float(target.split()[1])
    return {"ratio": round(figure, 3), "target": target, "met": figure <= bound if "<=" in target else figure >= bound}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=150_000, help="loaded into every database before measuring")
    parser.add_argument("--calls", type=int, default=1000, help="single lookups per side")
    parser.add_argument("--batches", type=int, default=9, help="10,000-identifier lookups per side")
    parser.add_argument("--ingest-records", type=int, default=100_000, help="POSTed to plain and c32, then matched")
    parser.add_argument("--batch", type=int, default=10_000, help="records per POSTed batch")
    parser.add_argument("--port", type=int, default=8950, help="the first side's gunicorn; the others follow")
    args = parse_args(parser, records=300, calls=20, batches=1, ingest_records=400, batch=200)

    os.environ.update({k: v for k, v in ingest.django_env({}).items() if k != "DATABASE_URL"})
    load = os.getloadavg()
    started_cluster = not cluster_running()
    if started_cluster:
        devcluster("start")
    databases = {"plain": PLAIN_DB, "c32": f"{PLAIN_DB}_c32", "c64": f"{PLAIN_DB}_c64"}
    created: list[str] = []
    began = time.perf_counter()
    try:
        import orjson

        print(f"preparing {args.records:,} records on {', '.join(databases)} …", flush=True)
        bodies = ingest.make_bodies(args.records, 10_000)
        known = [r["identifiers"][1]["token"] for body in bodies[:20] for r in orjson.loads(body)["records"]]
        urls = {}
        for side, database in databases.items():
            created.append(side)
            urls[side] = database_create(side, database)
        # Side by side: a migration on the cluster waits mostly on its nodes' round trips (DDL in two-phase
        # commits), not on the cores.
        with ThreadPoolExecutor(len(urls)) as pool:
            for done in [pool.submit(prepared, side, url, bodies) for side, url in urls.items()]:
                done.result()
        del bodies
        lookups = measure_lookups(urls, known, args)
        print(f"lookups measured ({time.perf_counter() - began:.0f}s in)", flush=True)
        ingested = measure_ingest({side: urls[side] for side in ("plain", "c32")}, args)
    finally:
        for side in created:
            database_drop(side, databases[side])
        if started_cluster:
            devcluster("stop")

    plain, c32, c64 = lookups["plain"], lookups["c32"], lookups["c64"]
    figures = {
        "records": args.records,
        "single_lookups": args.calls,
        "lookups_10k": args.batches,
        "ingested": args.ingest_records,
        "seconds": round(time.perf_counter() - began),
        "load_average": [round(value, 2) for value in load],
        "load_average_end": [round(value, 2) for value in os.getloadavg()],
        "lookups": {side: {k: round(v, 3) for k, v in values.items()} for side, values in lookups.items()},
        "ingest": {side: {k: round(v, 1) for k, v in values.items()} for side, values in ingested.items()},
        "ratios": {
            "single_lookup_p50_cluster_vs_plain": ratio(c32["single_p50_ms"], plain["single_p50_ms"], "<= 1.5"),
            "single_lookup_p50_64_vs_32_shards": ratio(c64["single_p50_ms"], c32["single_p50_ms"], "<= 1.1"),
            "ingest_cluster_vs_plain": ratio(
                ingested["c32"]["ingest_records_per_s"], ingested["plain"]["ingest_records_per_s"], ">= 0.5"
            ),
            "matching_cluster_vs_plain": ratio(
                ingested["c32"]["matching_records_per_s"], ingested["plain"]["matching_records_per_s"], ">= 0.5"
            ),
            "lookup_10k_cluster_vs_plain": ratio(c32["lookup_10k_ms"], plain["lookup_10k_ms"], "<= 1.5"),
        },
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
