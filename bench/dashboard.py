"""The admin index (the operators' dashboard) on 1,000,000 records and 1,000,000 lookup entries.

    uv run python bench/dashboard.py [--records 1000000] [--entries 1000000] [--repeat 21] [--skip-load]

Needs PostgreSQL at DATABASE_URL's server (default 127.0.0.1:5432 as postgres). Uses its own database,
riskshare_bench_dashboard (dropped and re-created, migrated), loaded with set-based SQL over the last
30 days: 100 members (some licences and credentials about to expire), batches of 1,000 records (a few
stuck), the records, lookups of 100 identifiers each with their entries (a tenth hits), disputes at
every deadline, flags. Then, after VACUUM ANALYZE, through Django's test client in this process (no
network, the same middleware as production), signed in as a superuser who sees every panel:

- the index page: its queries (count) and the median time of ``--repeat`` renders;
- two floors in the same run, alternating with it: the login page (no query of ours) and the bare
  institutions list (100 rows, a count and a page: the cheapest admin list).

Prints each median with its spread and the ratio of the index to each floor.
"""

from __future__ import annotations

import os
import sys

# bench/tokenize.py shadows the standard library's tokenize for scripts run from this folder.
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != os.path.dirname(os.path.abspath(__file__))]

import argparse
import statistics
import subprocess
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
# Its own database; RISKSHARE_BENCH_DB names another (two runs side by side, the smoke test).
BENCH_DB = os.environ.get("RISKSHARE_BENCH_DB", "riskshare_bench_dashboard")
sys.path.insert(0, str(ROOT))
from bench.common import fresh_database, parse_args, secrets_env

MEMBERS = 100


def server_url(database: str = BENCH_DB) -> str:
    url = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    return urlunsplit(urlsplit(url)._replace(path=f"/{database}"))


def django_env() -> dict[str, str]:
    return {
        "DATABASE_URL": server_url(),
        "DEBUG": "0",
        **secrets_env(),
        "ALLOWED_HOSTS": "testserver",
        "CELERY_BROKER_URL": "",
    }


# Spread over the last 30 days, up to now.
_AGO = "now() - interval '30 days'"


def load(records: int, entries: int) -> None:
    import psycopg

    with psycopg.connect(server_url("postgres"), autocommit=True) as conn:
        fresh_database(conn, BENCH_DB)
    env = {**os.environ, **django_env()}
    subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True)
    started = time.monotonic()
    batches = max(records // 1000, 1)
    lookups = max(entries // 100, 1)
    statements = [
        # Members: one in ten with a licence expiring within 60 days.
        f"""INSERT INTO members_institution (name, uscc, kind, contact_name, contact_email, contact_phone,
                licence_number, licence_expiry, status, status_changed_at, created_at)
            SELECT '机构 ' || i, '91110000MB' || lpad(i::text, 8, '0'), 'bank', '', '', '', 'L' || i,
                   CASE WHEN i % 10 = 0 THEN current_date + (i % 60) ELSE '2099-01-01' END, 'active', now(), now()
            FROM generate_series(1, {MEMBERS}) i""",
        """INSERT INTO members_credential (institution_id, name, prefix, digest, scopes, allowed_ips, expires_at,
                created_at, created_by, revoked_reason, revoked_by)
            SELECT m.id, 'key ' || k, 'rsk_' || lpad(to_hex(m.id * 2 + k), 12, '0'),
                   md5(m.id || ':' || k) || md5(k || ':' || m.id), ARRAY['records:write', 'lookups'],
                   ARRAY[]::varchar[], CASE WHEN k = 1 THEN now() + interval '1 day' * (m.id % 40) END,
                   now(), 'bench', '', ''
            FROM members_institution m, generate_series(0, 1) k""",
        # Batches of 1,000 records spread over the 30 days; the newest few stuck in processing.
        f"""INSERT INTO sharing_batch (member_id, credential_id, status, received, accepted, rejected, errors, attempts,
                created_at, updated_at, processed_at, enqueue_failed)
            SELECT m.id, (SELECT min(id) FROM members_credential c WHERE c.institution_id = m.id),
                   CASE WHEN b % 997 = 0 THEN 'processing' ELSE 'done' END, 1000, 1000, 0, '[]', 1,
                   {_AGO} + interval '30 days' * b / {batches}, {_AGO} + interval '30 days' * b / {batches}, now(),
                   false
            FROM generate_series(1, {batches}) b
            JOIN members_institution m ON m.id = 1 + b % {MEMBERS}""",
        """INSERT INTO sharing_record (member_id, reference, kind, category, status, event_date, overdue_days,
                overdue_amount, currency, product, key_version, identifiers_digest, identifier_types,
                retract_reason, origination_partner, batch_id, created_at, updated_at, reported_at)
            SELECT b.member_id, 'R-' || b.id || '-' || i, 'delinquency', 'overdue', 'active', current_date - 40,
                   30 + i % 200, 1000, 'CNY', 'consumer_loan', 1, sha256((b.id * 1000 + i)::text::bytea),
                   ARRAY['cn_resident_id'], '', '', b.id, b.created_at, b.created_at, b.created_at
            FROM sharing_batch b, generate_series(1, 1000) i""",
        f"""INSERT INTO sharing_lookup (member_id, credential_id, purpose, consent_reference, key_version, identifiers,
                hits, answer, created_at)
            SELECT m.id, (SELECT min(id) FROM members_credential c WHERE c.institution_id = m.id),
                   (ARRAY['credit_application', 'post_loan_monitoring'])[1 + l % 2],
                   CASE WHEN l % 2 = 0 THEN 'C-' || l ELSE '' END, 1, 100, 10, '\\x00'::bytea,
                   {_AGO} + interval '30 days' * l / {lookups}
            FROM generate_series(1, {lookups}) l
            JOIN members_institution m ON m.id = 1 + l % {MEMBERS}""",
        """INSERT INTO sharing_lookupentry (lookup_id, position, member_id, token, hit, multi_lending, created_at)
            SELECT l.id, p, l.member_id, sha256((l.id * 100 + p)::text::bytea), p % 10 = 0,
                   l.purpose = 'credit_application', l.created_at
            FROM sharing_lookup l, generate_series(0, 99) p""",
        # Disputes against one record in 2,000, received over the 30 days (so some overdue, some due soon).
        """INSERT INTO sharing_dispute (member_id, credential_id, record_id, reason, statement, status, received_at,
                due_date, records_disputed, settled_by, settlement_note, filed_by)
            SELECT r.member_id, (SELECT min(id) FROM members_credential c WHERE c.institution_id = r.member_id),
                   r.id, 'bench', '', 'open', r.created_at, (r.created_at AT TIME ZONE 'Asia/Shanghai')::date + 20, 1,
                   '', '', ''
            FROM sharing_record r WHERE r.id % 2000 = 0""",
        """INSERT INTO sharing_memberflag (member_id, kind, day, detail, created_at)
            SELECT id, 'enumeration', current_date, '{}', now() FROM members_institution WHERE id % 10 = 0""",
    ]
    with psycopg.connect(server_url(), autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement)
        conn.execute("VACUUM ANALYZE")
        counts = conn.execute(
            "SELECT (SELECT count(*) FROM sharing_record), (SELECT count(*) FROM sharing_lookupentry), "
            "(SELECT count(*) FROM sharing_lookup), (SELECT count(*) FROM sharing_batch)"
        ).fetchone()
    print(
        f"loaded {counts[0]:,} records, {counts[1]:,} lookup entries ({counts[2]:,} lookups), "
        f"{counts[3]:,} batches in {time.monotonic() - started:.1f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=21)
    parser.add_argument("--skip-load", action="store_true", help="reuse the loaded database")
    args = parse_args(parser, records=2_000, entries=2_000, repeat=2)
    if not args.skip_load:
        load(args.records, args.entries)

    os.environ.update(django_env())
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    user, _created = get_user_model().objects.get_or_create(
        username="bench-operator", defaults={"is_staff": True, "is_superuser": True}
    )
    signed_in, anonymous = Client(), Client()
    signed_in.force_login(user)
    pages = {
        "index": (signed_in, "/admin/"),
        "floor: login page": (anonymous, "/admin/login/"),
        "floor: institutions list": (signed_in, "/admin/members/institution/"),
    }
    queries = {}
    for name, (client, url) in pages.items():
        with CaptureQueriesContext(connection) as captured:
            response = client.get(url, secure=True, headers={"accept-language": "zh-hans"})
        assert response.status_code == 200, (url, response.status_code)
        queries[name] = len(captured)
    times: dict[str, list[float]] = {name: [] for name in pages}
    for _ in range(args.repeat):
        # Alternating, so that a slow spell of the machine lands on every page alike.
        for name, (client, url) in pages.items():
            began = time.perf_counter()
            client.get(url, secure=True, headers={"accept-language": "zh-hans"})
            times[name].append((time.perf_counter() - began) * 1000)
    medians = {name: statistics.median(values) for name, values in times.items()}
    for name, values in times.items():
        q = sorted(values)
        print(
            f"{name:28s} {queries[name]:3d} queries, median {medians[name]:6.1f} ms "
            f"(min {q[0]:.1f}, max {q[-1]:.1f}, {len(q)} renders)"
        )
    index = medians["index"]
    print(
        f"index / login page: {index / medians['floor: login page']:.1f}×; "
        f"index / institutions list: {index / medians['floor: institutions list']:.1f}×; "
        f"index {index:.0f} ms against the 300 ms target"
    )


if __name__ == "__main__":
    main()
