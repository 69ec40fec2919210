"""The lookup log and the audit trail at scale (issue 31): each figure a ratio measured in one run.

    uv run python bench/audit.py writes      [--seconds 20]        # lookup-log writes, 1 vs 16 connections
    uv run python bench/audit.py retention   [--entries 10000000]  # drop a month vs delete the same rows
    uv run python bench/audit.py pruning     [--per-month 1000000] # lookup p50, 12 months filled vs one
    uv run python bench/audit.py verify      [--new 30000]         # nightly audit verification vs full walk
    uv run python bench/audit.py drift       [--tokens 1000000]    # nightly summary check vs full one

Each mode creates its own databases (riskshare_bench_audit_*, or $RISKSHARE_BENCH_DB_*) on $DATABASE_URL's
server and migrates them with the checkout the script sits in, so the same script copied into another checkout
measures that one (``writes`` was run so on the parent commit, whose audit appends take the chain's lock).

writes: the lookup log's transaction exactly as a lookup commits it (its entries, the lookup row, the audit
event, one pipeline, synchronous commit on), single-identifier lookups, from 1 and then 16 processes each with
its own connection, for --seconds each; with the sequencer running every 5 s as beat runs it, where there is one.
"""

from __future__ import annotations

import os
import sys

# bench/tokenize.py shadows the standard library's tokenize for scripts run from this folder.
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != os.path.dirname(os.path.abspath(__file__))]

import argparse
import datetime as dt
import importlib.util
import multiprocessing
import random
import statistics
import subprocess
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
_spec = importlib.util.spec_from_file_location("bench_ingest", Path(__file__).with_name("ingest.py"))
ingest = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ingest)


# Its databases' names: RISKSHARE_BENCH_DB_<mode> where a caller names one (tests/test_bench.py's smoke runs).
PREFIX = os.environ.get("RISKSHARE_BENCH_DB") or "riskshare_bench_audit"


def db_url(name: str) -> str:
    parts = urlsplit(os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"))
    return urlunsplit(parts._replace(path=f"/{name}"))


def create_database(name: str, *, lookups: bool = True) -> dict[str, str]:
    """A fresh database migrated by this checkout, with one active member holding a credential and a current key."""
    import psycopg

    with psycopg.connect(db_url("postgres"), autocommit=True) as conn:
        ingest.fresh_database(conn, name)
    env = ingest.django_env(
        {
            "DATABASE_URL": db_url(name),
            "CELERY_BROKER_URL": "",
            "RISKSHARE_LOOKUP_REQUESTS_PER_MINUTE": "100000000",
            "RISKSHARE_LOOKUP_IDENTIFIERS_PER_DAY": "1000000000",
        }
    )
    ingest.migrated_with_member(env, scopes="lookups" if lookups else "records:write")
    with psycopg.connect(db_url(name), autocommit=True) as conn:
        conn.execute(
            "INSERT INTO sharing_consortiumkey (version, state, check_value, created_at, created_by, retired_by, "
            "retired_reason) VALUES (1, 'current', '0000000000000000', now(), 'bench', '', '')"
        )
    return env


def django_setup(env: dict[str, str]) -> None:
    os.environ.update(env)
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    import django

    django.setup()


# writes


def _writer(env: dict[str, str], index: int, commands, results) -> None:
    """One connection; for each command (start time, seconds, whether it writes) the writes it committed."""
    django_setup(env)
    from django.utils import timezone

    from core.sql import pipeline
    from members.audit import Actor, audit_event_statements
    from members.models import Credential
    from sharing.lookups import services
    from sharing.lookups.models import Lookup

    credential = Credential.objects.select_related("institution").get()
    actor = Actor.credential(credential)
    member = credential.institution_id
    rng = random.Random(index)  # noqa: S311 - benchmark inputs
    lookup_id = (index + 1) * 100_000_000

    def statements() -> tuple[dict, list]:
        # Built before the clock starts: the figure is the database's side of the log's transaction (what the
        # chain's lock serialized); a lookup's own Python scales with web processes.
        nonlocal lookup_id
        lookup_id += 1
        now = timezone.now()
        entries = {
            "id": lookup_id,
            "member": member,
            "tokens": rng.randbytes(32),
            "hit_flags": b"\x00",
            "multi_lending": True,
            "now": now,
        }
        audit, _fields = audit_event_statements(
            actor=actor,
            action="lookup.performed",
            obj=Lookup(id=lookup_id, member_id=member, purpose="credit_application"),
            payload={"purpose": "credit_application", "identifiers": 1, "hits": 0, "consent": True},
        )
        row = {
            "id": lookup_id,
            "member": member,
            "credential": credential.pk,
            "purpose": "credit_application",
            "consent": "bench consent",
            "key_version": 1,
            "identifiers": 1,
            "hits": 0,
            "answer": rng.randbytes(89),
            "now": now,
        }
        return entries, [(services._LOOKUP_SQL, row), *audit]

    def write(prepared: tuple[dict, list]) -> None:
        entries, rest = prepared
        with pipeline(prepare=True, commit=True) as log:
            log.send([(services._ENTRIES_SQL, entries)], answered=False)
            log.send(rest)

    for _ in range(20):  # connection, prepared statements
        write(statements())
    results.put("ready")
    while True:
        command = commands.get()
        if command is None:
            return
        start_at, seconds, active = command
        if not active:
            results.put(0)
            continue
        # Enough for 8,000 writes a second in all: each writer stops early only past that.
        prepared = [statements() for _ in range(int(seconds * (2000 if index == 0 and active == 1 else 500)))]
        while time.time() < start_at:
            time.sleep(0.001)
        deadline = start_at + seconds
        writes = 0
        while time.time() < deadline and writes < len(prepared):
            write(prepared[writes])
            writes += 1
        results.put(writes)


def _sequencer(env: dict[str, str], stop) -> None:
    django_setup(env)
    from members import audit

    sequence = getattr(audit, "audit_chain_sequence", None)
    while sequence is not None and not stop.is_set():
        sequence()
        stop.wait(5)


def writes_main(args: argparse.Namespace) -> None:
    env = create_database(f"{PREFIX}_writes")
    context = multiprocessing.get_context("spawn")
    results, stop = context.Queue(), context.Event()
    sequencer = context.Process(target=_sequencer, args=(env, stop))
    sequencer.start()
    commands = [context.Queue() for _ in range(16)]
    workers = [context.Process(target=_writer, args=(env, index, commands[index], results)) for index in range(16)]
    for worker in workers:
        worker.start()
    assert all(results.get() == "ready" for _ in workers)
    figures: dict[int, list[float]] = {}
    for connections in [1, 16] * args.rounds:
        # Time to build the statements first.
        start_at = time.time() + 5 + args.seconds
        for index, queue in enumerate(commands):
            queue.put((start_at, args.seconds, 1 if connections == 1 and index == 0 else int(index < connections) * 16))
        total = sum(results.get() for _ in workers)
        rate = total / args.seconds
        figures.setdefault(connections, []).append(rate)
        print(f"{connections:>2} connections: {rate:,.0f} lookup-log writes/s", flush=True)
    for queue in commands:
        queue.put(None)
    for worker in workers:
        worker.join()
    stop.set()
    sequencer.join()
    one, sixteen = statistics.median(figures[1]), statistics.median(figures[16])
    print(
        f"ratio 16 / 1 connections: {sixteen / one:.2f}x (medians of {args.rounds} alternating rounds: "
        f"{one:,.0f} and {sixteen:,.0f} writes/s)"
    )
    django_setup(env)
    from members import audit

    if hasattr(audit, "audit_chain_sequence"):
        result = audit.audit_chain_verify(full=True)
    else:
        result = audit.audit_chain_verify()
    print(f"afterwards: the chain holds {result.checked:,} events, intact: {result.ok}")


# retention


def _fill_month(cursor, month: dt.date, entries: int, lookups: int, member: int, credential: int) -> None:
    """``lookups`` lookups of ``entries / lookups`` identifiers each in ``month``, as the log stores them."""
    from core.partitions import month_bounds

    start, _end = month_bounds(month)
    per = entries // lookups
    base = int(start.timestamp()) * 1000
    cursor.execute(
        "INSERT INTO sharing_lookup (id, member_id, credential_id, purpose, consent_reference, key_version, "
        "identifiers, hits, answer, created_at) "
        "SELECT %s + n, %s, %s, 'post_loan_monitoring', '', 1, %s, 0, '\\x00'::bytea, "
        "%s::timestamptz + n * interval '1 minute' FROM generate_series(1, %s) n",
        [base, member, credential, per, start, lookups],
    )
    cursor.execute(
        "INSERT INTO sharing_lookupentry (lookup_id, position, member_id, token, hit, multi_lending, created_at) "
        "SELECT %s + l, p, %s, sha256(int8send(l * 100000 + p)), p %% 10 = 0, false, "
        "%s::timestamptz + l * interval '1 minute' "
        "FROM generate_series(1, %s) l, generate_series(0, %s - 1) p",
        [base, member, start, lookups, per],
    )


def retention_main(args: argparse.Namespace) -> None:
    import psycopg

    env = create_database(f"{PREFIX}_retention")
    django_setup(env)
    from django.conf import settings
    from django.db import connection

    from core.partitions import month_bounds, partitions_ensure
    from members.models import Credential
    from sharing.retention.services import lookup_log_purge

    credential = Credential.objects.get()
    dropped, deleted = dt.date(2020, 1, 1), dt.date(2020, 2, 1)
    today = dt.date(2025, 1, 31)  # January 2020 is all past five years, February not yet
    assert settings.RISKSHARE_LOOKUP_LOG_RETENTION_YEARS == 5
    partitions_ensure(today=today, months_back=60)
    lookups = max(1, args.entries // 10_000)
    with connection.cursor() as cursor:
        for month in (dropped, deleted):
            started = time.perf_counter()
            _fill_month(cursor, month, args.entries, lookups, credential.institution_id, credential.pk)
            print(f"{month:%Y-%m}: {args.entries:,} entries in {time.perf_counter() - started:.0f}s", flush=True)
    with psycopg.connect(db_url(f"{PREFIX}_retention"), autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE sharing_lookupentry_p202001, sharing_lookupentry_p202002")
        conn.execute("CHECKPOINT")
        # The deletion as the purge did it: the month's lookups in chunks of 5,000, their entries with them.
        start, end = month_bounds(deleted)
        started = time.perf_counter()
        with conn.transaction():
            conn.execute("SET LOCAL session_replication_role = replica")  # the append-only triggers
            conn.execute(
                "WITH due AS (SELECT id FROM sharing_lookup WHERE created_at >= %s AND created_at < %s), "
                "e AS (DELETE FROM sharing_lookupentry e USING due WHERE e.lookup_id = due.id "
                "AND e.created_at >= %s AND e.created_at < %s RETURNING 1) "
                "DELETE FROM sharing_lookup l USING due WHERE l.id = due.id",
                [start, end, start, end],
            )
        delete_seconds = time.perf_counter() - started
        time.sleep(1)
        (dead_after_delete,) = conn.execute(
            "SELECT n_dead_tup FROM pg_stat_user_tables WHERE relname = 'sharing_lookupentry_p202002'"
        ).fetchone()
        conn.execute("CHECKPOINT")
    from sharing.retention import services as retention

    statements: list[float] = []
    drop = retention.partition_drop

    def timed_drop(table: str, month: dt.date) -> None:
        begun = time.perf_counter()
        drop(table, month)
        statements.append(time.perf_counter() - begun)

    retention.partition_drop = timed_drop
    started = time.perf_counter()
    result = lookup_log_purge(today=today)
    drop_seconds = time.perf_counter() - started
    assert result.lookup_entries == args.entries, result
    time.sleep(1)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT coalesce(sum(n_dead_tup), 0) FROM pg_stat_user_tables WHERE relname LIKE 'sharing_lookupentry_p%%'"
            " AND relname <> 'sharing_lookupentry_p202002'"
        )
        (dead_after_drop,) = cursor.fetchone()
    print(
        f"delete {args.entries:,} entries (and their {lookups:,} lookups): {delete_seconds:.2f}s, "
        f"dead tuples left {dead_after_delete:,}"
    )
    print(
        f"drop the month (lookup_log_purge, tombstone included): {drop_seconds:.3f}s, dead tuples left "
        f"{dead_after_drop:,}"
    )
    print(
        f"of which DETACH + DROP of the two partitions: {sum(statements):.3f}s; the rest is the job's bookkeeping "
        "(partitions ensured, counts, tombstone, commit)"
    )
    print(f"ratio drop / delete: {drop_seconds / delete_seconds:.4f}x")


# pruning

CHINA = dt.timezone(dt.timedelta(hours=8))


def china_month_bounds(month: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """core.partitions' bounds, without Django settings (this process never sets Django up)."""
    following = (month.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    return dt.datetime.combine(month, dt.time.min, CHINA), dt.datetime.combine(following, dt.time.min, CHINA)


def china_month_add(month: dt.date, months: int) -> dt.date:
    index = month.year * 12 + month.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1)


def _pruning_round(env: dict[str, str], tokens: list[str], calls: int) -> None:
    django_setup(env)
    import msgspec
    import orjson

    from members.models import Credential
    from sharing.lookups.contracts import LookupRequest
    from sharing.lookups.services import lookup_answer

    credential = Credential.objects.select_related("institution").get()
    timings = []
    for n, token in enumerate(tokens[: calls + 100]):
        request = msgspec.json.decode(
            orjson.dumps(
                {
                    "purpose": "fraud_investigation",
                    "key_version": 1,
                    "identifiers": [{"type": "cn_mobile", "token": token}],
                }
            ),
            type=LookupRequest,
        )
        started = time.perf_counter()
        lookup_answer(credential=credential, request=request)
        if n >= 100:
            timings.append(time.perf_counter() - started)
    print(statistics.median(timings))


def pruning_main(args: argparse.Namespace) -> None:
    import psycopg

    pepper = ingest.django_env({})["RISKSHARE_PEPPER"].encode()
    import hmac

    rng = random.Random(7)  # noqa: S311 - benchmark inputs
    pool = [rng.randbytes(32).hex() for _ in range(100_000)]
    peppered = [hmac.digest(pepper, token.encode(), "sha256") for token in pool]
    envs = {}
    for months in (1, 12):
        name = f"{PREFIX}_pruning_{months}"
        env = envs[months] = create_database(name)
        script = "from core.partitions import partitions_ensure; partitions_ensure(months_back=12)"
        subprocess.run(
            [sys.executable, "-c", f"import django; django.setup(); {script}"],
            cwd=ROOT,
            env={**env, "DJANGO_SETTINGS_MODULE": "config.settings"},
            check=True,
        )
        with psycopg.connect(db_url(name), autocommit=True) as conn:
            now = dt.datetime.now(dt.UTC)
            this_month = now.astimezone(CHINA).date().replace(day=1)
            started = time.perf_counter()
            for back in range(months):
                # Credit entries of 100 other members on tokens of the pool, spread over one calendar month (the
                # current one up to now).
                start, end = china_month_bounds(china_month_add(this_month, -back))
                span = int((min(end, now) - start).total_seconds() // 60) - 1
                conn.execute(
                    "INSERT INTO sharing_lookupentry (lookup_id, position, member_id, token, hit, multi_lending, "
                    "created_at) SELECT -(%s::bigint * 100000000 + n), 0, 1000 + n %% 100, pool.token, false, true, "
                    "%s::timestamptz + (n %% %s) * interval '1 minute' "
                    "FROM generate_series(1, %s) n "
                    "JOIN unnest(%s::bytea[]) WITH ORDINALITY AS pool(token, o) ON pool.o = 1 + n %% %s",
                    [back, start, span, args.per_month, peppered, len(peppered)],
                )
            conn.execute("VACUUM ANALYZE sharing_lookupentry")
            (filled,) = conn.execute("SELECT count(DISTINCT tableoid) FROM sharing_lookupentry").fetchone()
            print(
                f"{months} month(s) asked, {filled} partitions filled, {args.per_month * months:,} entries "
                f"in {time.perf_counter() - started:.0f}s",
                flush=True,
            )
    figures: dict[int, list[float]] = {1: [], 12: []}
    for round_ in range(args.rounds):
        for months in (1, 12):
            tokens = random.Random(round_ * 100 + months).sample(pool, args.calls + 100)  # noqa: S311
            out = subprocess.run(
                [
                    sys.executable,
                    "-c",
                    "import sys, json; sys.path.insert(0, 'bench'); "
                    "import importlib.util as u; s = u.spec_from_file_location('a', 'bench/audit.py'); "
                    "m = u.module_from_spec(s); s.loader.exec_module(m); "
                    f"m._pruning_round(json.loads(sys.argv[1]), json.loads(sys.argv[2]), {args.calls})",
                    __import__("json").dumps(envs[months]),
                    __import__("json").dumps(tokens),
                ],
                cwd=ROOT,
                check=True,
                capture_output=True,
                text=True,
            )
            figures[months].append(float(out.stdout.strip().splitlines()[-1]))
            print(
                f"round {round_ + 1}, {months:>2} month(s) filled: p50 {figures[months][-1] * 1000:.3f} ms", flush=True
            )
    one, twelve = statistics.median(figures[1]), statistics.median(figures[12])
    print(
        f"single-identifier lookup p50: one month {one * 1000:.3f} ms, twelve months {twelve * 1000:.3f} ms, "
        f"ratio {twelve / one:.3f}x (medians of {args.rounds} alternating rounds of {args.calls} calls)"
    )


# verify


def verify_main(args: argparse.Namespace) -> None:
    env = create_database(f"{PREFIX}_verify")
    django_setup(env)
    from django.db import connection

    from members.audit import audit_chain_sequence, audit_chain_verify

    def append(count: int) -> None:
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO members_auditevent (occurred_at, actor_type, actor_id, actor_label, action, "
                "object_type, object_id, object_repr, payload, institution_id) "
                "SELECT now(), 'credential', '1', 'rsk_bench (bench)', 'lookup.performed', 'sharing.lookup', "
                "n::text, 'lookup ' || n, jsonb_build_object('purpose', 'credit_application', 'identifiers', 1, "
                "'hits', 0, 'consent', true), 1 FROM generate_series(1, %s) n",
                [count],
            )
        started = time.perf_counter()
        audit_chain_sequence()
        print(f"{count:,} events chained in {time.perf_counter() - started:.1f}s", flush=True)

    append(args.new * 10)
    fulls, nightlies = [], []
    for _round in range(args.rounds):
        started = time.perf_counter()
        full = audit_chain_verify(full=True)
        fulls.append(time.perf_counter() - started)
        append(args.new)
        started = time.perf_counter()
        nightly = audit_chain_verify()
        nightlies.append(time.perf_counter() - started)
        assert full.ok and nightly.ok and nightly.checked == args.new, (full, nightly)
        print(
            f"full walk {full.checked:,} events {fulls[-1]:.2f}s; nightly {nightly.checked:,} new events "
            f"{nightlies[-1]:.2f}s",
            flush=True,
        )
    full_s, nightly_s = statistics.median(fulls), statistics.median(nightlies)
    print(
        f"ratio nightly / full: {nightly_s / full_s:.3f}x (medians of {args.rounds} rounds; history grows by "
        f"N = {args.new:,} a round from 10N)"
    )


# drift


def drift_main(args: argparse.Namespace) -> None:
    import psycopg

    name = f"{PREFIX}_drift"
    env = create_database(name, lookups=False)
    records = args.tokens // 2  # two identifiers a record
    started = time.perf_counter()
    with psycopg.connect(db_url(name), autocommit=True) as conn:
        (member,) = conn.execute("SELECT id FROM members_institution").fetchone()
        # Active delinquencies of one member, each with two identifiers whose tokens look random.
        conn.execute(
            "INSERT INTO sharing_record (id, reference, kind, category, status, event_date, overdue_days, "
            "overdue_amount, currency, product, key_version, identifiers_digest, identifier_types, retract_reason, "
            "created_at, updated_at, reported_at, member_id, origination_partner) "
            "SELECT n, 'R' || n, 'delinquency', 'overdue', 'active', date '2025-06-10', 30 + n %% 90, 1000.50, "
            "'CNY', 'consumer_loan', 1, sha256(int8send(n)), '{cn_mobile,cn_resident_id}', '', "
            "now() - interval '1 day', now() - interval '1 day', now() - interval '1 day', %s, '' "
            "FROM generate_series(1, %s) n",
            [member, records],
        )
        conn.execute(
            "INSERT INTO sharing_recordidentifier (id_type, token, record_id) "
            "SELECT t, sha256(int8send(n) || convert_to(t, 'UTF8')), n "
            "FROM generate_series(1, %s) n, unnest(ARRAY['cn_mobile', 'cn_resident_id']) t",
            [records],
        )
        conn.execute("VACUUM ANALYZE sharing_record, sharing_recordidentifier")
    print(f"{records:,} records with {records * 2:,} tokens loaded in {time.perf_counter() - started:.0f}s", flush=True)
    django_setup(env)
    from django.conf import settings

    from sharing.records.matching import summaries_drift_check

    started = time.perf_counter()
    built = summaries_drift_check(fix=True)
    print(f"summaries built in {time.perf_counter() - started:.0f}s ({built.missing:,})", flush=True)
    with psycopg.connect(db_url(name), autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    fulls, nightlies = [], []
    for round_ in range(args.rounds):
        started = time.perf_counter()
        full = summaries_drift_check(fix=False)
        fulls.append(time.perf_counter() - started)
        with psycopg.connect(db_url(name), autocommit=True) as conn:
            # 1 % of the tokens touched: their records changed since the last check.
            conn.execute(
                "UPDATE sharing_record SET updated_at = now() WHERE id IN "
                "(SELECT id FROM sharing_record ORDER BY random() LIMIT %s)",
                [records // 100],
            )
        started = time.perf_counter()
        nightly = summaries_drift_check(fix=False, full=False)
        nightlies.append(time.perf_counter() - started)
        print(
            f"round {round_ + 1}: full check {full.checked:,} tokens {fulls[-1]:.1f}s; nightly {nightly.checked:,} "
            f"tokens {nightlies[-1]:.2f}s (slice 1/{settings.RISKSHARE_SUMMARY_CHECK_SLICES})",
            flush=True,
        )
        assert full.drift == nightly.drift == 0
    full_s, nightly_s = statistics.median(fulls), statistics.median(nightlies)
    print(f"ratio nightly / full: {nightly_s / full_s:.3f}x (medians of {args.rounds} rounds)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=["writes", "retention", "pruning", "verify", "drift"])
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--entries", type=int, default=10_000_000)
    parser.add_argument("--per-month", type=int, default=1_000_000)
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--new", type=int, default=30_000)
    parser.add_argument("--tokens", type=int, default=1_000_000)
    args = ingest.parse_args(parser, seconds=1, entries=3_000, per_month=300, calls=20, rounds=1, new=100, tokens=1_000)
    {
        "writes": writes_main,
        "retention": retention_main,
        "pruning": pruning_main,
        "verify": verify_main,
        "drift": drift_main,
    }[args.mode](args)


if __name__ == "__main__":
    main()
