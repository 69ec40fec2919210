"""Ingest throughput: our HTTP API against raw COPY into the same tables, in one run.

    uv run python bench/ingest.py [--records 1000000] [--clients 2] [--match-workers N]

Needs PostgreSQL and Redis (DATABASE_URL's server, default 127.0.0.1:5432 as
postgres; CELERY_BROKER_URL, default redis://127.0.0.1:6379/14). It uses its
own database, riskshare_bench or $RISKSHARE_BENCH_DB (dropped and re-created), and:

1. starts gunicorn (2 workers) with a broker but no Celery worker, so matching
   jobs queue up and do not run inside the measured requests;
2. POSTs the records in batches of 10,000 from N client threads: records/s and
   the p50/p95 latency of a 10,000-record POST;
3. truncates, then loads the same rows (records and their peppered
   identifiers, the same indexes and triggers) with single-connection COPY:
   records/s; prints the HTTP/COPY ratio;
4. starts a Celery worker (one process per core unless --match-workers says
   otherwise) and times the matching of the queued batches;
5. measures parse + validate per record in-process, without the database.

With --exposure it compares instead, in one run, open loans (kind loan) with delinquencies of the
same shape (ingest and matching), and a monthly refresh of every loan with their first load.
"""

from __future__ import annotations

import os
import sys

# bench/tokenize.py shadows the standard library's tokenize for scripts run from this folder.
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != os.path.dirname(os.path.abspath(__file__))]

import argparse
import datetime as dt
import random
import secrets
import statistics
import subprocess
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from bench.common import fresh_database, parse_args, secrets_env

ROOT = Path(__file__).resolve().parent.parent
# Its own database; RISKSHARE_BENCH_DB names another, so that two checkouts compared in turn keep theirs.
BENCH_DB = os.environ.get("RISKSHARE_BENCH_DB", "riskshare_bench")


def server_url() -> str:
    url = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{BENCH_DB}"))


def admin_url() -> str:
    parts = urlsplit(server_url())
    return urlunsplit(parts._replace(path="/postgres"))


def make_bodies(
    records: int, batch: int, prefix: str = "LOAN", kind: str = "delinquency", month: int = 0
) -> list[bytes]:
    """The same bodies for the same arguments (bench/lookup.py --skip-load finds its hits again).

    ``kind="loan"``: the same references and tokens as open loans (exposure), their balances those of
    ``month`` (a monthly refresh re-sends every reference with month + 1).
    """
    import orjson

    rng = random.Random(f"{prefix}:{records}:{batch}")  # noqa: S311 - benchmark data, not secrets

    def token() -> str:
        return rng.randbytes(32).hex()

    bodies = []
    # Every 20th record's first token comes from this list, indexed by the record's number: as multiples
    # of 20 wrap around it, 1,000,000 records use 2,500 of them, 20 records each (5 % of the records name
    # a person reported 20 times). Kept as it is, so that figures compare across runs.
    shared = [token() for _ in range(records // 20)]
    for start in range(0, records, batch):
        rows = []
        for n in range(start, min(start + batch, records)):
            first = shared[n % len(shared)] if n % 20 == 0 else token()
            if kind == "loan":
                rows.append(
                    {
                        "reference": f"{prefix}-{n:08d}",
                        "kind": "loan",
                        "category": "open",
                        "identifiers": [
                            {"type": "cn_resident_id", "token": first},
                            {"type": "cn_mobile", "token": token()},
                        ],
                        "key_version": 1,
                        "event_date": "2025-06-10",
                        "credit_limit": f"{10000 + n % 90000}.00",
                        # Every loan's balance moves each month; their sum does not (7n mod 10,000 runs
                        # through every residue), so the printed total stays the same.
                        "outstanding_balance": f"{(n * 7 + month * 1013) % 10000 + 1}.25",
                        "currency": "CNY",
                        "product": "credit_line",
                        "maturity_date": "2027-06-09",
                    }
                )
                continue
            record = {
                "reference": f"{prefix}-{n:08d}",
                "kind": "delinquency",
                "category": "overdue",
                "identifiers": [
                    {"type": "cn_resident_id", "token": first},
                    {"type": "cn_mobile", "token": token()},
                ],
                "key_version": 1,
                "event_date": "2025-06-10",
                "overdue_days": 30 + n % 300,
                "overdue_amount": f"{1000 + n % 50000}.50",
                "currency": "CNY",
                "product": "consumer_loan",
            }
            rows.append(record)
        bodies.append(orjson.dumps({"records": rows}))
    return bodies


def start_gunicorn(env: dict[str, str], port: int) -> subprocess.Popen:
    """gunicorn with 2 workers on 127.0.0.1:port, returned once /healthz answers."""
    import httpx

    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "config.wsgi",
            "-w",
            "2",
            "-b",
            f"127.0.0.1:{port}",
            "--timeout",
            "300",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
    )
    for _ in range(150):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                return process
        except httpx.TransportError:
            time.sleep(0.2)
    process.terminate()
    sys.exit("gunicorn did not start")


def django_env(extra: dict[str, str]) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": server_url(),
        "DEBUG": "0",
        **secrets_env(),
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "0",
        **extra,
    }


def migrated_with_member(env: dict[str, str], *, scopes: str) -> str:
    """Migrate the database ``env`` names and add the benchmark's active member with a credential of ``scopes``:
    ``credential_issue``'s output (the key is its last line)."""
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "-v", "0"], cwd=ROOT, env=env, check=True)
    from core.uscc import uscc_check_character

    uscc = "91110000MA00BENCH" + uscc_check_character("91110000MA00BENCH")
    subprocess.run(
        [
            *manage,
            "member_create",
            "--name",
            "Bench",
            "--uscc",
            uscc,
            "--kind",
            "bank",
            "--licence-number",
            "B",
            "--licence-expiry",
            "2099-01-01",
            "--activate",
        ],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    return subprocess.run(
        [*manage, "credential_issue", "--uscc", uscc, "--scopes", scopes],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def setup_database(env: dict[str, str]) -> str:
    import psycopg

    with psycopg.connect(admin_url(), autocommit=True) as conn:
        fresh_database(conn, BENCH_DB)
    out = migrated_with_member(env, scopes="records:write")
    with psycopg.connect(server_url(), autocommit=True) as conn:
        conn.execute(
            "INSERT INTO sharing_consortiumkey (version, state, check_value, created_at, created_by, retired_by, "
            "retired_reason) VALUES (1, 'current', '0000000000000000', now(), 'bench', '', '')"
        )
    return out.strip().splitlines()[-1]


def truncate() -> None:
    import psycopg

    with psycopg.connect(server_url(), autocommit=True) as conn:
        conn.execute(
            "TRUNCATE sharing_record, sharing_recordidentifier, sharing_recordevent, sharing_dirtytoken, "
            "sharing_tokensummary, sharing_batch, sharing_idempotencykey CASCADE"
        )
        conn.execute("VACUUM ANALYZE")


def http_ingest(
    bodies: list[bytes], key: str, port: int, clients: int, key_prefix: str = "bench"
) -> tuple[float, list[float]]:
    import httpx

    latencies: list[float] = []
    lock = threading.Lock()
    queue = list(enumerate(bodies))
    failures: list[str] = []

    def client() -> None:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=300) as http:
            while True:
                with lock:
                    if not queue:
                        return
                    index, body = queue.pop(0)
                started = time.perf_counter()
                response = http.post(
                    "/api/v1/batches",
                    content=body,
                    headers={
                        "Authorization": f"Bearer {key}",
                        "Content-Type": "application/json",
                        "Idempotency-Key": f"{key_prefix}-{index}",
                    },
                )
                elapsed = time.perf_counter() - started
                if response.status_code != 202 or response.json()["rejected"]:
                    failures.append(f"{response.status_code} {response.text[:300]}")
                with lock:
                    latencies.append(elapsed)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    total = time.perf_counter() - started
    if failures:
        sys.exit(f"ingest failed: {failures[:3]}")
    return total, latencies


def copy_load(bodies: list[bytes], pepper: bytes, url: str | None = None) -> float:
    """The same rows as the API stores them, written with COPY on one connection (to ``url``, default the
    benchmark's database).

    Rows are prepared (parsed, tokens peppered) before the clock starts: the
    figure is the cost of COPY into these tables with their indexes.
    """
    import hashlib
    import hmac

    import orjson
    import psycopg

    now = dt.datetime.now(dt.UTC)
    records, identifiers = [], []
    with psycopg.connect(url or server_url()) as conn, conn.cursor() as cursor:
        total = sum(len(orjson.loads(body)["records"]) for body in bodies)
        cursor.execute("SELECT nextval('sharing_record_id_seq') FROM generate_series(1, %s)", [total])
        ids = iter([row[0] for row in cursor.fetchall()])
        for body in bodies:
            for record in orjson.loads(body)["records"]:
                record_id = next(ids)
                pairs = []
                for identifier in record["identifiers"]:
                    token = hmac.digest(pepper, identifier["token"].encode(), "sha256")
                    pairs.append((identifier["type"], token))
                    identifiers.append((record_id, identifier["type"], token))
                digest = hashlib.sha256(b"".join(t.encode() + b"\0" + tok for t, tok in sorted(pairs))).digest()
                records.append(
                    (
                        record_id,
                        1,
                        record["reference"],
                        record["kind"],
                        record["category"],
                        "active",
                        dt.date.fromisoformat(record["event_date"]),
                        record["overdue_days"],
                        record["overdue_amount"],
                        record["currency"],
                        record["product"],
                        1,
                        digest,
                        sorted(t for t, _ in pairs),
                        "",
                        "",
                        now,
                        now,
                        now,
                    )
                )
        conn.commit()
        started = time.perf_counter()
        with cursor.copy(
            "COPY sharing_record (id, member_id, reference, kind, category, status, event_date, overdue_days, "
            "overdue_amount, currency, product, key_version, identifiers_digest, identifier_types, retract_reason, "
            "origination_partner, created_at, updated_at, reported_at) FROM STDIN"
        ) as copy:
            for row in records:
                copy.write_row(row)
        with cursor.copy("COPY sharing_recordidentifier (record_id, id_type, token) FROM STDIN") as copy:
            for row in identifiers:
                copy.write_row(row)
        conn.commit()
    return time.perf_counter() - started


def parse_validate_cost(bodies: list[bytes]) -> tuple[float, float]:
    """µs per record: a body of valid records (one typed decode), and one with an invalid record (each alone)."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    import orjson

    from core.gcpause import gc_paused
    from sharing.records.contracts import batch_parse

    sample = bodies[: min(len(bodies), 5)]
    context = {"today": dt.date.today(), "current_versions": frozenset({1}), "retired_versions": frozenset()}
    costs = []
    for broken in (False, True):
        measured = []
        for body in sample:
            if broken:
                document = orjson.loads(body)
                document["records"][0]["kind"] = "fraud"
                body = orjson.dumps(document)
            measured.append(body)
        batch_parse(measured[0], **context)  # warm up
        count = 0
        started = time.perf_counter()
        for body in measured:
            with gc_paused():  # as in the request
                check = batch_parse(body, **context)
            assert len(check.errors) == int(broken)
            count += check.received
        costs.append((time.perf_counter() - started) / count * 1e6)
    return costs[0], costs[1]


def start_worker(env: dict[str, str], queue: str, workers: int) -> subprocess.Popen:
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
            str(workers),
            "-Q",
            queue,
            "-l",
            "WARNING",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ],
        cwd=ROOT,
        env=env,
    )


def worker_alive(worker: subprocess.Popen) -> None:
    """Ends the run when the worker has exited: the batches it left would be waited for forever."""
    if worker.poll() is not None:
        sys.exit(f"the Celery worker exited ({worker.returncode}) with batches left to match")


def match_queued(env: dict[str, str], queue: str, workers: int, after_batch: int) -> float:
    """Seconds from the first batch after ``after_batch`` taken by a worker to the last one done (worker
    start-up excluded)."""
    import psycopg

    worker = start_worker(env, queue, workers)
    try:
        with psycopg.connect(server_url(), autocommit=True) as conn:
            while not conn.execute(
                "SELECT count(*) FROM sharing_batch WHERE id > %s AND status <> 'received'", [after_batch]
            ).fetchone()[0]:
                worker_alive(worker)
                time.sleep(0.05)
            started = time.perf_counter()
            while conn.execute(
                "SELECT count(*) FROM sharing_batch WHERE status <> 'done' OR EXISTS (SELECT 1 FROM sharing_dirtytoken)"
            ).fetchone()[0]:
                worker_alive(worker)
                time.sleep(0.05)
            return time.perf_counter() - started
    finally:
        worker.terminate()
        worker.wait()


def last_batch() -> int:
    import psycopg

    with psycopg.connect(server_url(), autocommit=True) as conn:
        return conn.execute("SELECT coalesce(max(id), 0) FROM sharing_batch").fetchone()[0]


def exposure_main(args: argparse.Namespace) -> None:
    """Loans against delinquencies of the same shape, and a monthly refresh against the first load, one run.

    Each round (phases alternating in order between rounds): delinquency records through the API, then
    matched; the same references and tokens as open loans, then matched; every loan re-sent with new
    balances (the monthly refresh), then matched. Medians of the rounds' ratios.
    """
    import psycopg

    broker = os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/14")
    queue = f"bench-{secrets.token_hex(4)}"
    env = django_env({"CELERY_BROKER_URL": broker, "CELERY_TASK_DEFAULT_QUEUE": queue})
    os.environ.update({k: v for k, v in env.items() if k != "CELERY_BROKER_URL"})
    print(f"preparing {args.records:,} delinquencies and loans in batches of {args.batch:,} …", flush=True)
    bodies = {
        "delinquency": make_bodies(args.records, args.batch, prefix="EXP"),
        "loan": make_bodies(args.records, args.batch, prefix="EXP", kind="loan"),
        "refresh": make_bodies(args.records, args.batch, prefix="EXP", kind="loan", month=1),
    }
    key = setup_database(env)
    gunicorn = start_gunicorn(env, args.port)
    figures: dict[str, list[tuple[float, float]]] = {"delinquency": [], "loan": [], "refresh": []}
    try:
        for round_number in range(args.rounds):
            kinds = ["delinquency", "loan"] if round_number % 2 == 0 else ["loan", "delinquency"]
            for kind in kinds:
                truncate()
                ingest, _latencies = http_ingest(bodies[kind], key, args.port, args.clients, f"{kind}-{round_number}")
                matched = match_queued(env, queue, args.match_workers, 0)  # truncated: every batch is this phase's
                figures[kind].append((ingest, matched))
                print(f"round {round_number + 1} {kind}: ingest {ingest:.1f}s, matching {matched:.1f}s", flush=True)
                if kind == "loan":
                    with psycopg.connect(server_url(), autocommit=True) as conn:
                        conn.execute("VACUUM ANALYZE sharing_record, sharing_recordidentifier, sharing_tokensummary")
                    before = last_batch()
                    ingest, _latencies = http_ingest(
                        bodies["refresh"], key, args.port, args.clients, f"refresh-{round_number}"
                    )
                    matched = match_queued(env, queue, args.match_workers, before)
                    figures["refresh"].append((ingest, matched))
                    print(
                        f"round {round_number + 1} refresh: ingest {ingest:.1f}s, matching {matched:.1f}s", flush=True
                    )
                    with psycopg.connect(server_url(), autocommit=True) as conn:
                        loans, total = conn.execute(
                            "SELECT sum(open_loans), sum(total_outstanding) FROM sharing_tokensummary"
                        ).fetchone()
                    print(f"  summaries: {loans:,} open loans counted (two tokens each), {total:,} outstanding")
    finally:
        gunicorn.terminate()
        gunicorn.wait()

    def ratios(of: str, to: str, column: int | None) -> list[float]:
        def seconds(figure: tuple[float, float]) -> float:
            return sum(figure) if column is None else figure[column]

        # Rates are records per second: the ratio of rates is the inverse ratio of times.
        return [seconds(b) / seconds(a) for a, b in zip(figures[of], figures[to], strict=True)]

    n = args.records
    for label, of, to, column, target in [
        ("loan ingest / delinquency ingest (records/s)", "loan", "delinquency", 0, ">= 0.9"),
        ("loan matching / delinquency matching (records/s)", "loan", "delinquency", 1, ">= 0.9"),
    ]:
        values = ratios(of, to, column)
        print(f"{label}: {' / '.join(f'{v:.2f}' for v in values)}, median {statistics.median(values):.2f} ({target})")
    refresh = [sum(r) / sum(first) for first, r in zip(figures["loan"], figures["refresh"], strict=True)]
    print(
        f"monthly refresh / first load of {n:,} open loans (time, ingest + matching): "
        f"{' / '.join(f'{v:.2f}' for v in refresh)}, median {statistics.median(refresh):.2f} (<= 1.3)"
    )
    for kind, rows in figures.items():
        ingest = statistics.median(n / f[0] for f in rows)
        matched = statistics.median(n / f[1] for f in rows)
        print(f"  {kind}: ingest {ingest:,.0f} records/s, matching {matched:,.0f} records/s (medians)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument(
        "--exposure",
        action="store_true",
        help="loans against delinquencies and the monthly refresh against the first load (exposure_main)",
    )
    parser.add_argument("--rounds", type=int, default=3, help="--exposure: rounds, phases alternating")
    parser.add_argument("--batch", type=int, default=10_000)
    parser.add_argument("--clients", type=int, default=2)
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument(
        "--match-workers",
        type=int,
        default=os.cpu_count() or 1,
        help="worker processes matching (default: one per core, as `celery worker` runs by default)",
    )
    args = parse_args(parser, records=2_000, batch=500, clients=1, match_workers=1, rounds=1)
    if args.exposure:
        exposure_main(args)
        return

    broker = os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/14")
    queue = f"bench-{secrets.token_hex(4)}"
    env = django_env({"CELERY_BROKER_URL": broker, "CELERY_TASK_DEFAULT_QUEUE": queue})
    os.environ.update({k: v for k, v in env.items() if k != "CELERY_BROKER_URL"})
    print(f"preparing {args.records:,} records in batches of {args.batch:,} …", flush=True)
    bodies = make_bodies(args.records, args.batch)
    key = setup_database(env)
    fast_us, detailed_us = parse_validate_cost(bodies)

    gunicorn = start_gunicorn(env, args.port)
    try:
        http_seconds, latencies = http_ingest(bodies, key, args.port, args.clients)
        # Latency of one client alone, on the loaded tables (new references).
        solo = make_bodies(args.batch * 10, args.batch, prefix="SOLO")
        _seconds, solo_latencies = http_ingest(solo, key, args.port, 1, key_prefix="solo")
    finally:
        gunicorn.terminate()
        gunicorn.wait()
    http_rate = args.records / http_seconds
    p50 = statistics.median(latencies) * 1000
    p95 = sorted(latencies)[int(len(latencies) * 0.95) - 1] * 1000
    solo_p50 = statistics.median(solo_latencies) * 1000

    worker = subprocess.Popen(
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
            str(args.match_workers),
            "-Q",
            queue,
            "-l",
            "WARNING",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ],
        cwd=ROOT,
        env=env,
    )
    import psycopg

    started = time.perf_counter()
    try:
        with psycopg.connect(server_url(), autocommit=True) as conn:
            while conn.execute("SELECT count(*) FROM sharing_batch WHERE status <> 'done'").fetchone()[0]:
                worker_alive(worker)
                time.sleep(0.2)
    finally:
        worker.terminate()
        worker.wait()
    match_seconds = time.perf_counter() - started
    with psycopg.connect(server_url(), autocommit=True) as conn:
        summaries = conn.execute("SELECT count(*) FROM sharing_tokensummary").fetchone()[0]

    truncate()
    copy_seconds = copy_load(bodies, env["RISKSHARE_PEPPER"].encode())
    copy_rate = args.records / copy_seconds

    print(
        f"HTTP ingest:  {http_rate:,.0f} records/s ({args.records:,} in {http_seconds:.1f}s, {args.clients} clients, "
        f"gunicorn 2 workers)"
    )
    print(f"raw COPY:     {copy_rate:,.0f} records/s ({copy_seconds:.1f}s, one connection, rows prepared beforehand)")
    print(f"ratio:        HTTP/COPY = {http_rate / copy_rate:.2f}  (target >= 0.7)")
    copy_batch = copy_seconds / args.records * args.batch * 1000  # COPY's time for one batch of records
    print(
        f"POST of {args.batch:,} records: p50 {p50:.0f} ms, p95 {p95:.0f} ms with {args.clients} clients; "
        f"p50 {solo_p50:.0f} ms with one client alone  ({p50 / copy_batch:.1f}× and {solo_p50 / copy_batch:.1f}× "
        f"COPY's {copy_batch:.0f} ms for as many records; target p50 <= 2.4×)"
    )
    print(
        f"parse + validate: {fast_us:.2f} µs/record (all valid, msgspec path); "
        f"{detailed_us:.2f} µs/record on the per-record error path  (against a floor: bench/validate.py)"
    )
    matched = args.records + args.batch * 10  # the bulk load and the one-client batches
    print(
        f"matching:     {matched / match_seconds:,.0f} records/s, {summaries / match_seconds:,.0f} tokens/s "
        f"({matched:,} records in {match_seconds:.1f}s, {summaries:,} token summaries, "
        f"{args.match_workers} worker process(es))  "
        f"{matched / match_seconds / copy_rate:.2f}× COPY's records/s (target >= 1.6×)"
    )


if __name__ == "__main__":
    main()
