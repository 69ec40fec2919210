"""The verifiable log's costs, in one run: ingest with the log against without it, sequencer throughput, and
inclusion proofs on a large log.

    uv run python bench/tlog.py [--batches 12] [--large 1000000] [--proofs 300]

Its own database (riskshare_bench_tlog, dropped and re-created, migrated). In-process, through the same
services the API calls, so that only the piece under test differs:

1. ingest A/B: 10,000-record batches through ``batch_submit``, alternating a batch with the log's leaves
   and a batch with the leaves left out (``_log_changes`` returning nothing, ``SELECT 1`` sent in place
   of the pending row's insert), medians per side and their ratio;
2. the sequencer: ``log_sequence`` over every leaf the batches left pending, leaves per second, and the
   lag it implies at the measured ingest rate;
3. a log of ``--large`` leaves (tiles written directly from random leaf hashes), then inclusion proofs
   for random leaves through the Django test client (authentication, the tiles' query, the audit event):
   p50 and p95, beside the floor of the same stack: ``GET /api/v1/log/key`` (authentication, no database
   read of the log), alternating with the proofs.
"""

from __future__ import annotations

import os
import sys

sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != os.path.dirname(os.path.abspath(__file__))]
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import argparse
import random
import secrets
import statistics
import time
from urllib.parse import urlsplit, urlunsplit

from bench.common import fresh_database, parse_args, secrets_env

DB = os.environ.get("RISKSHARE_BENCH_DB", "riskshare_bench_tlog")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batches", type=int, default=12, help="10,000-record batches per side")
    parser.add_argument("--large", type=int, default=1_000_000, help="leaves of the large log")
    parser.add_argument("--proofs", type=int, default=300)
    parser.add_argument("--skip-ingest", action="store_true", help="only the large log's proofs")
    args = parse_args(parser, batches=1, large=2_000, proofs=10)

    import psycopg

    base = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    parts = urlsplit(base)
    with psycopg.connect(urlunsplit(parts._replace(path="/postgres")), autocommit=True) as conn:
        fresh_database(conn, DB)
    os.environ["DATABASE_URL"] = urlunsplit(parts._replace(path=f"/{DB}"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    # The Django test client's host, over plain HTTP.
    os.environ.update(ALLOWED_HOSTS="testserver", SECURE_SSL_REDIRECT="0", DEBUG="0", **secrets_env())
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    if args.skip_ingest:
        _member()
    else:
        ingest_ab(args.batches)
    large_log(args.large, args.proofs)


def _issue(institution):
    from members.audit import Actor
    from members.services import credential_issue

    issued = credential_issue(
        actor=Actor.system("bench"), institution=institution, name="bench", scopes=["records:write"]
    )
    return issued.credential, issued.key


def _member():
    from core.uscc import uscc_check_character
    from members.models import Institution
    from sharing.models import ConsortiumKey

    uscc = "91110000MA00BENCH" + uscc_check_character("91110000MA00BENCH")
    institution = Institution.objects.create(name="Bench", uscc=uscc, kind="bank", status="active", licence_number="B")
    ConsortiumKey.objects.get_or_create(version=1, defaults={"check_value": "0" * 16, "created_by": "bench"})
    return _issue(institution)


def _bodies(count: int) -> list[bytes]:
    import orjson

    rng = random.Random(7)  # noqa: S311 - benchmark data
    bodies = []
    for b in range(count):
        records = [
            {
                "reference": f"L-{b}-{n}",
                "kind": "delinquency",
                "category": "overdue",
                "identifiers": [
                    {"type": "cn_resident_id", "token": rng.randbytes(32).hex()},
                    {"type": "cn_mobile", "token": rng.randbytes(32).hex()},
                ],
                "key_version": 1,
                "event_date": "2025-06-10",
                "overdue_days": 45,
                "overdue_amount": "1200.50",
                "currency": "CNY",
                "product": "consumer_loan",
            }
            for n in range(10_000)
        ]
        bodies.append(orjson.dumps({"records": records}))
    return bodies


def ingest_ab(batches: int) -> None:
    from unittest import mock

    from core.clock import business_today
    from sharing.records import submission
    from sharing.records.contracts import batch_parse
    from sharing.records.idempotency import request_hash
    from sharing.tlog.services import log_sequence
    from sharing.tokens.selectors import key_versions

    credential, _key = _member()
    bodies = _bodies(2 * batches)
    times = {"log": [], "no log": []}
    # The batch's job is left unsent, as a web process leaves it to a worker: without a broker it would
    # run here, in the timed region (matching), and sequence the leaves measured below.
    unsent = mock.patch.object(submission, "batch_enqueue", lambda **kwargs: None)
    unsent.start()
    for n, body in enumerate(bodies):
        side = ("log", "no log")[(n + n // 2) % 2]  # ABBA order: neither side always goes first
        current, retired = key_versions()
        started = time.perf_counter()
        check = batch_parse(body, today=business_today(), current_versions=current, retired_versions=retired)
        if side == "log":
            submission.batch_submit(
                credential=credential, idempotency_key=f"k{n}", body_hash=request_hash(body), check=check
            )
        else:
            with (
                mock.patch.object(submission, "_log_changes", lambda *a, **k: []),
                mock.patch.object(submission, "APPEND_SQL", "SELECT 1"),
            ):
                submission.batch_submit(
                    credential=credential, idempotency_key=f"k{n}", body_hash=request_hash(body), check=check
                )
        times[side].append(time.perf_counter() - started)
    unsent.stop()
    log, bare = statistics.median(times["log"]), statistics.median(times["no log"])
    print(f"ingest, 10,000-record batch (parse + submit), median of {batches} each, alternating:")
    print(f"  without the log {bare * 1000:.0f} ms ({10_000 / bare:,.0f} records/s)")
    print(f"  with the log    {log * 1000:.0f} ms ({10_000 / log:,.0f} records/s)")
    print(f"  throughput ratio with/without: {bare / log:.3f}")
    spread = [b / a for a, b in zip(times["log"], times["no log"], strict=True)]
    print(f"  per-pair ratio spread: {min(spread):.2f}–{max(spread):.2f}")
    pending = batches * 10_000
    started = time.perf_counter()
    sequenced = 0
    while True:
        result = log_sequence()
        sequenced += result.sequenced
        if not result.sequenced:
            break
    seconds = time.perf_counter() - started
    rate = sequenced / seconds
    print(f"sequencer: {sequenced:,} pending leaves in {seconds:.2f} s = {rate:,.0f} leaves/s", end="")
    print(f" ({rate / (10_000 / log):.1f}× the ingest rate with the log); checkpoint at {result.size}")
    assert sequenced == pending


def large_log(size: int, proofs: int) -> None:
    import base64

    from django.db import connection
    from django.test import Client

    from core.sql import execute_binary
    from members.models import Institution
    from sharing.models import LogState
    from sharing.tlog import merkle, tiles

    started = time.perf_counter()
    hashes = [secrets.token_bytes(32) for _ in range(size)]
    tile_map = tiles.tiles_append(0, {}, hashes)
    root = merkle.root_of(hashes)
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE sharing_logtile, sharing_logstate")
    keys = list(tile_map)
    for start in range(0, len(keys), 2000):
        chunk = keys[start : start + 2000]
        execute_binary(
            "INSERT INTO sharing_logtile (level, index, hashes) "
            "SELECT * FROM unnest(%s::smallint[], %s::bigint[], %s::bytea[])",
            [[k[0] for k in chunk], [k[1] for k in chunk], [tile_map[k] for k in chunk]],
        )
    LogState.objects.create(id=1, size=size, root=root)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE sharing_logtile")
    print(f"large log: {size:,} leaves, {len(tile_map):,} tiles, built in {time.perf_counter() - started:.0f} s")
    _credential, key = _issue(Institution.objects.get(name="Bench"))
    client = Client(HTTP_AUTHORIZATION=f"Bearer {key}")
    rng = random.Random(11)  # noqa: S311
    latencies = []
    floor = []  # the same client and stack, authentication included, no read of the log
    for n in range(proofs + 20):
        index = rng.randrange(size)
        t = time.perf_counter()
        response = client.get(f"/api/v1/log/proof/inclusion?index={index}&tree_size={size}")
        elapsed = time.perf_counter() - t
        assert response.status_code == 200, response.content
        t = time.perf_counter()
        assert client.get("/api/v1/log/key").status_code == 200
        if n >= 20:  # warm-up
            latencies.append(elapsed)
            floor.append(time.perf_counter() - t)
        body = response.json()
        proof = [base64.b64decode(p) for p in body["proof"]]
        assert merkle.verify_inclusion(index, size, hashes[index], proof, root)
    latencies.sort()
    p50 = latencies[len(latencies) // 2] * 1000
    p95 = latencies[int(len(latencies) * 0.95)] * 1000
    floor.sort()
    print(f"floor (GET /api/v1/log/key): p50 {floor[len(floor) // 2] * 1000:.2f} ms")
    where = "in-process through the API (auth, tiles, audit)"
    print(f"inclusion proof on {size:,} leaves, {where}: p50 {p50:.2f} ms, p95 {p95:.2f} ms")


if __name__ == "__main__":
    main()
