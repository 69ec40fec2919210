"""Self-inspection report generation: 100 members, one month holding 1,000,000 records and 1,000,000 lookups.

    uv run python bench/reports.py [--members 100] [--records 1000000] [--lookups 1000000] [--repeat 3]

Needs PostgreSQL at DATABASE_URL's server (default 127.0.0.1:5432 as postgres). Uses its own database,
riskshare_bench_reports (dropped and re-created, migrated), loaded with set-based SQL: members and their
credentials, batches with rejections, records (80 % delinquencies, some reported late), row-history
events of updated records, resolve/retract audit events, lookups of every purpose, quota refusals,
flags, disputes and retention tombstones, all in last month (Asia/Shanghai). Then, after VACUUM ANALYZE, it times:

1. ``reports_generate`` for every member at once (set-based sections, one snapshot) — ``--repeat`` runs;
2. ``report_generate`` member by member (what the monthly Celery tasks do between them), once.

Each run builds, signs and stores every ZIP. Prints the times and the median.
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
BENCH_DB = os.environ.get("RISKSHARE_BENCH_DB", "riskshare_bench_reports")
sys.path.insert(0, str(ROOT))
from bench.common import fresh_database, parse_args, secrets_env


def server_url(database: str = BENCH_DB) -> str:
    url = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    return urlunsplit(urlsplit(url)._replace(path=f"/{database}"))


def django_env() -> dict[str, str]:
    return {
        "DATABASE_URL": server_url(),
        "DEBUG": "0",
        **secrets_env(),
        "ALLOWED_HOSTS": "127.0.0.1",
        "CELERY_BROKER_URL": "",
    }


# Last month in Asia/Shanghai, as SQL: every row of the load falls inside it.
_MONTH = "(date_trunc('month', (now() AT TIME ZONE 'Asia/Shanghai')) - interval '1 month') AT TIME ZONE 'Asia/Shanghai'"


def load(members: int, records: int, lookups: int) -> None:
    import psycopg

    with psycopg.connect(server_url("postgres"), autocommit=True) as conn:
        fresh_database(conn, BENCH_DB)
    env = {**os.environ, **django_env()}
    subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True)
    started = time.monotonic()
    per_member = records // members
    statements = [
        # Members, each with two credentials (one without an IP allow-list, one unused).
        f"""INSERT INTO members_institution (name, uscc, kind, contact_name, contact_email, contact_phone,
                licence_number, licence_expiry, status, status_changed_at, created_at)
            SELECT '机构 ' || i, '91110000MB' || lpad(i::text, 8, '0'), 'bank', '', '', '', 'L' || i,
                   '2099-01-01', 'active', now(), now()
            FROM generate_series(1, {members}) i""",
        """INSERT INTO members_credential (institution_id, name, prefix, digest, scopes, allowed_ips, created_at,
                created_by, revoked_reason, revoked_by, last_used_at)
            SELECT m.id, 'key ' || k, 'rsk_' || lpad(to_hex(m.id * 2 + k), 12, '0'),
                   md5(m.id || ':' || k) || md5(k || ':' || m.id),
                   ARRAY['records:write', 'lookups', 'reports:read'],
                   CASE WHEN k = 0 THEN ARRAY['203.0.113.0/24'] ELSE ARRAY[]::varchar[] END,
                   now() - interval '400 days' * k, 'bench', '', '', CASE WHEN k = 0 THEN now() END
            FROM members_institution m, generate_series(0, 1) k""",
        # One batch per 10,000 records, 2 % of the received records rejected with two codes.
        f"""INSERT INTO sharing_batch (member_id, credential_id, status, received, accepted, rejected, errors, attempts,
                created_at, updated_at, processed_at, enqueue_failed)
            SELECT m.id, (SELECT min(id) FROM members_credential c WHERE c.institution_id = m.id), 'done',
                   10200, 10000, 200,
                   (SELECT jsonb_agg(jsonb_build_object('index', j, 'field', '/event_date',
                           'code', CASE WHEN j % 3 = 0 THEN 'future_date' ELSE 'bad_date' END, 'message', 'x'))
                    FROM generate_series(1, 200) j),
                   1, {_MONTH} + interval '1 day' * (b % 28), now(), now(), false
            FROM members_institution m, generate_series(1, greatest({per_member} / 10000, 1)) b""",
        f"""INSERT INTO sharing_record (member_id, reference, kind, category, status, event_date, resolved_date,
                overdue_days, overdue_amount, currency, product, key_version, identifiers_digest, identifier_types,
                retract_reason, origination_partner, batch_id, created_at, updated_at, reported_at)
            SELECT m.id, 'R-' || i, CASE WHEN i % 5 = 0 THEN 'blacklist' ELSE 'delinquency' END,
                   CASE WHEN i % 5 = 0 THEN 'fraud_ring' ELSE 'overdue' END,
                   CASE WHEN i % 50 = 1 THEN 'resolved' WHEN i % 97 = 2 THEN 'retracted' ELSE 'active' END,
                   (({_MONTH})::date - (i % 45)), NULL, 30 + i % 200, 1000, 'CNY', 'consumer_loan', 1,
                   sha256(i::text::bytea), ARRAY['cn_resident_id'], '', '', NULL,
                   {_MONTH} + interval '1 second' * (i % 2400000), now(), now()
            FROM members_institution m, generate_series(1, {per_member}) i""",
        # Row history: 5 % of the records changed during the month.
        f"""INSERT INTO sharing_recordevent (pgh_created_at, pgh_label, id, reference, kind, category, status,
                event_date, overdue_days, overdue_amount, currency, product, key_version, identifiers_digest,
                identifier_types, retract_reason, origination_partner, created_at, updated_at, member_id, pgh_obj_id)
            SELECT {_MONTH} + interval '1 day' * (id % 28), 'update', id, reference, kind, category, status,
                   event_date, overdue_days, overdue_amount, currency, product, key_version, identifiers_digest,
                   identifier_types, retract_reason, origination_partner, created_at, updated_at, member_id, id
            FROM sharing_record WHERE id % 20 = 0""",
        # Resolutions and retractions through the API leave audit events (the chain is not the point here).
        f"""INSERT INTO members_auditevent (seq, occurred_at, actor_type, actor_id, actor_label, action, object_type,
                object_id, object_repr, payload, prev_hash, hash)
            SELECT row_number() OVER (ORDER BY id), {_MONTH} + interval '1 day' * (id % 28), 'credential', '', 'bench',
                   CASE WHEN status = 'resolved' THEN 'record.resolved' ELSE 'record.retracted' END,
                   'sharing.record', id::text, reference, '{{}}', '', md5(id::text) || md5(reference)
            FROM sharing_record WHERE status IN ('resolved', 'retracted')""",
        f"""INSERT INTO sharing_lookup (member_id, credential_id, purpose, consent_reference, key_version, identifiers,
                hits, answer, created_at)
            SELECT m.id, (SELECT min(id) FROM members_credential c WHERE c.institution_id = m.id),
                   (ARRAY['credit_application', 'account_opening', 'post_loan_monitoring',
                          'fraud_investigation'])[1 + i % 4],
                   CASE WHEN i % 4 < 2 THEN 'C-' || i ELSE '' END, 1, 1 + i % 3, i % 2, '\\x00'::bytea,
                   {_MONTH} + interval '1 second' * (i % 2400000)
            FROM members_institution m, generate_series(1, {lookups // members}) i""",
        f"""INSERT INTO sharing_quotarefusal (credential_id, member_id, day, "window", refused)
            SELECT c.id, c.institution_id, ({_MONTH})::date + d, 'minute', 1 + d
            FROM members_credential c, generate_series(0, 9) d""",
        # Disputes against 0.5 % of the records, received during the month; three in four settled.
        f"""INSERT INTO sharing_dispute (member_id, credential_id, record_id, reason, statement, status, received_at,
                due_date, records_disputed, settled_at, settled_by, settlement_note, filed_by)
            SELECT r.member_id, (SELECT min(id) FROM members_credential c WHERE c.institution_id = r.member_id),
                   r.id, 'bench', '', (ARRAY['open', 'corrected', 'confirmed', 'unverifiable'])[1 + r.id % 4],
                   {_MONTH} + interval '1 day' * (r.id % 20), ({_MONTH})::date + (r.id % 20)::int + 20, 1,
                   CASE WHEN r.id % 4 <> 0 THEN {_MONTH} + interval '1 day' * (r.id % 20 + r.id % 25) END, '', '', ''
            FROM sharing_record r WHERE r.id % 200 = 0""",
        """INSERT INTO sharing_disputedrecord (dispute_id, record_id, reporting_member_id)
            SELECT id, record_id, member_id FROM sharing_dispute""",
        # A retention tombstone a day, counting purged records for every member.
        f"""INSERT INTO members_auditevent (seq, occurred_at, actor_type, actor_id, actor_label, action, object_type,
                object_id, object_repr, payload, prev_hash, hash)
            SELECT (SELECT max(seq) FROM members_auditevent) + d + 1, {_MONTH} + interval '1 day' * d, 'system', '',
                   'retention', 'retention.records_purged', '', '', '',
                   jsonb_build_object('by_member', (SELECT jsonb_object_agg(id::text, 1 + d % 3)
                                                    FROM members_institution)),
                   '', md5('tombstone' || d) || md5('retention' || d)
            FROM generate_series(0, 27) d""",
        f"""INSERT INTO sharing_memberflag (member_id, kind, day, detail, created_at)
            SELECT id, 'enumeration', ({_MONTH})::date + 3, '{{}}', now() FROM members_institution WHERE id % 10 = 0""",
    ]
    with psycopg.connect(server_url(), autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement)
        conn.execute("VACUUM ANALYZE")
        counts = conn.execute(
            "SELECT (SELECT count(*) FROM sharing_record), (SELECT count(*) FROM sharing_lookup), "
            "(SELECT count(*) FROM sharing_recordevent), (SELECT count(*) FROM members_institution)"
        ).fetchone()
    print(
        f"loaded {counts[0]:,} records, {counts[1]:,} lookups, {counts[2]:,} record events, {counts[3]} members "
        f"in {time.monotonic() - started:.1f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=100)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--lookups", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--skip-load", action="store_true", help="reuse the loaded database")
    parser.add_argument("--skip-per-member", action="store_true")
    args = parse_args(parser, members=3, records=2_000, lookups=2_000, repeat=1)
    if not args.skip_load:
        load(args.members, args.records, args.lookups)

    os.environ.update(django_env())
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from members.audit import Actor
    from members.models import Institution
    from sharing.models import Report
    from sharing.reports.services import previous_month, report_generate, reports_generate

    start, end = previous_month()
    members = list(Institution.objects.order_by("pk"))
    actor = Actor.system("bench")
    times = []
    for run in range(args.repeat):
        began = time.monotonic()
        reports = reports_generate(members=members, period_start=start, period_end=end, actor=actor)
        times.append(time.monotonic() - began)
        print(f"all members at once, run {run + 1}: {len(reports)} reports in {times[-1]:.1f} s")
    sizes = list(Report.objects.values_list("size", flat=True))
    if times:
        print(
            f"reports_generate, {len(members)} members, {start} to {end}: median {statistics.median(times):.1f} s "
            f"(runs {', '.join(f'{t:.1f}' for t in times)}); ZIP sizes {min(sizes):,}–{max(sizes):,} bytes"
        )
    if not args.skip_per_member:
        began = time.monotonic()
        for member in members:
            report_generate(member=member, period_start=start, period_end=end, actor=actor)
        elapsed = time.monotonic() - began
        print(
            f"report_generate member by member (the monthly tasks' total work): {elapsed:.1f} s, "
            f"{elapsed / len(members):.2f} s a member"
        )


if __name__ == "__main__":
    main()
