"""The schema on a real Citus cluster (deploy/citus/devcluster: a coordinator and two workers under var/citus,
ports 5481-5483), the foundation of issue 32:

1. ``manage.py migrate`` against the coordinator applies every migration and distributes what today's schema
   allows (sharing.0034 to 0036): the consortium key versions a reference table, the token summaries, dirty
   tokens, lookup log and the protective, watch, dispute and subject report tokens sharded by token and
   co-located; every other table stays local to the coordinator (docs/design.md, "Distribution (Citus)", lists
   what distributing them still hits);
2. the cluster distributes: a scratch table made distributed by a token column sends ``token = $1`` to one
   shard (EXPLAIN's task count 1) and a statement without the token to all of them, the property every hot
   statement's routing test will rest on;
3. the main flow runs against the coordinator over HTTP (gunicorn, as production serves it): submit, match,
   look up a hit, a miss and both, a second member's inquiry counted, resolve and retract;
4. the single-identifier lookup read, as the service sends it, reads its summary on one shard, and a slice
   of 2,500 tokens on every shard;
5. migrating back brings the three tables to the coordinator, rows and identity kept, and forward again.

It needs root (or the postgres user) and Citus built into the system PostgreSQL 15 (``devcluster build``;
.ci/run builds it when the source is at ../shared/citus). Without them it is skipped, saying what is missing.
About 70 s once Citus is built: it starts the cluster if it is down (and stops it again after), creates a
fresh database on every node and migrates it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import re
import secrets
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import psycopg
import pytest
from django.conf import settings

from tests.environment import production_secrets
from tests.factories import make_uscc
from tests.served import Gunicorn, closed_port, platform_env, platform_member, platform_prepare, record

ROOT = Path(__file__).resolve().parents[2]
DEVCLUSTER = ROOT / "deploy" / "citus" / "devcluster"
DATABASE = "riskshare_citus_test"
# The tables Citus holds (pg_dist_partition), a partitioned table's months left out (they follow their table).
DISTRIBUTED_SQL = (
    "SELECT {} FROM pg_dist_partition p JOIN pg_class c ON c.oid = p.logicalrelid WHERE NOT c.relispartition"
)
DISTRIBUTED = [
    "sharing_consortiumkey",
    "sharing_dirtytoken",
    "sharing_disputetoken",
    "sharing_lookupentry",
    "sharing_protectivetoken",
    "sharing_subjectreporttoken",
    "sharing_tokensummary",
    "sharing_watchtoken",
]

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 and os.environ.get("USER") != "postgres", reason="the Citus cluster needs root or postgres"
)


def devcluster(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(  # noqa: S603 - our own script, fixed arguments
        [sys.executable, str(DEVCLUSTER), *args], capture_output=True, text=True, timeout=300
    )
    if check and result.returncode != 0:
        raise AssertionError(f"devcluster {' '.join(args)} failed:\n{result.stderr[-3000:]}")
    return result


@contextlib.contextmanager
def citus_database(name: str) -> Iterator[str]:
    """A fresh database ``name`` on every node of the cluster (its URL), dropped however the block ends; the
    cluster is started if it is down, and then stopped again. Skips the test where Citus is missing."""
    missing = devcluster("check", check=False)
    if missing.returncode != 0:
        pytest.skip(f"Citus is not available here: {missing.stderr.strip()}")
    was_running = devcluster("status", check=False).returncode == 0
    if not was_running:
        devcluster("start")
    try:
        devcluster("dropdb", name)
        yield devcluster("createdb", name).stdout.strip()
    finally:
        devcluster("dropdb", name, check=False)
        if not was_running:
            devcluster("stop", check=False)


@pytest.fixture(scope="module")
def cluster():
    with citus_database(DATABASE) as url:
        yield url


@pytest.fixture(scope="module")
def migrated(cluster):
    """The cluster's database migrated; the seconds it took (a second run finds nothing to do)."""
    env = {
        **os.environ,
        **production_secrets(),
        "DATABASE_URL": cluster,
        "CELERY_BROKER_URL": "",
        "PYTHONPATH": str(ROOT),
    }
    env.pop("DEBUG", None)
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--no-input"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return cluster, time.monotonic() - started


def test_migrate_applies_every_migration_and_distributes_the_token_tables(migrated):
    cluster, elapsed = migrated
    print(f"migrate on the Citus coordinator: {elapsed:.1f} s")
    with psycopg.connect(cluster) as connection:
        extension = connection.execute("SELECT extversion FROM pg_extension WHERE extname = 'citus'").fetchone()
        workers = connection.execute("SELECT count(*) FROM pg_dist_node WHERE groupid <> 0").fetchone()[0]
        tables = connection.execute(
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tablename LIKE 'sharing\\_%'"
        ).fetchone()[0]
        distributed = {
            table: rest
            for table, *rest in connection.execute(DISTRIBUTED_SQL.format(
                "logicalrelid::text, partmethod, colocationid, column_to_column_name(logicalrelid, partkey)"
            ))
        }  # fmt: skip
        months = connection.execute(
            "SELECT count(*) FROM pg_dist_partition p JOIN pg_inherits i ON i.inhrelid = p.logicalrelid"
            " WHERE i.inhparent = 'sharing_lookupentry'::regclass"
        ).fetchone()[0]
        applied = connection.execute("SELECT count(*) FROM django_migrations").fetchone()[0]
        keys = dict(
            connection.execute(
                "SELECT conrelid::regclass::text, pg_get_constraintdef(oid) FROM pg_constraint"
                " WHERE contype = 'p' AND conrelid::regclass::text = ANY(%s)",
                [["sharing_watchtoken", "sharing_disputetoken", "sharing_subjectreporttoken"]],
            )
        )
    assert extension is not None and workers == 2
    assert tables > 20 and applied > 0
    assert sorted(distributed) == DISTRIBUTED
    reference = distributed.pop("sharing_consortiumkey")
    assert reference[0] == "n", "the key versions are a reference table (a copy on every node)"
    # A token's summary, its dirty mark, its lookup log, its protective registrations, watches, disputes and
    # the person's own reports on one shard.
    assert {(method, column) for method, _colocation, column in distributed.values()} == {("h", "token")}
    assert len({colocation for _method, colocation, _column in distributed.values()}) == 1
    # Their keys hold the token there (sharing.0036; a plain PostgreSQL keeps (watch_id, id_type) and so on).
    assert keys == {
        "sharing_watchtoken": "PRIMARY KEY (token, watch_id, id_type)",
        "sharing_disputetoken": "PRIMARY KEY (token, dispute_id, id_type)",
        "sharing_subjectreporttoken": "PRIMARY KEY (report_id, token)",
    }
    # Every month of the lookup log is distributed with it (the months ahead and the default partition).
    assert months > settings.RISKSHARE_PARTITION_MONTHS_AHEAD


def test_a_token_equality_goes_to_one_shard_and_a_scan_to_all(cluster):
    with psycopg.connect(cluster, autocommit=True) as connection:
        connection.execute("DROP TABLE IF EXISTS citus_smoke")
        connection.execute("CREATE TABLE citus_smoke (token bytea NOT NULL, member_id bigint, PRIMARY KEY (token))")
        connection.execute("SELECT create_distributed_table('citus_smoke', 'token')")
        shards = connection.execute(
            "SELECT count(*) FROM pg_dist_shard WHERE logicalrelid = 'citus_smoke'::regclass"
        ).fetchone()[0]
        placements = connection.execute(
            "SELECT count(DISTINCT nodeport) FROM pg_dist_shard_placement p JOIN pg_dist_shard s USING (shardid)"
            " WHERE s.logicalrelid = 'citus_smoke'::regclass"
        ).fetchone()[0]
        connection.execute(
            "INSERT INTO citus_smoke SELECT sha256(i::text::bytea), i % 7 FROM generate_series(1, 1000) AS i"
        )
        connection.execute("PREPARE smoke_one(bytea) AS SELECT member_id FROM citus_smoke WHERE token = $1")
        # The sixth execution of a prepared statement is where a generic plan may take over: the routing
        # must hold there too, not only on the custom plans of the first five.
        for _ in range(6):
            connection.execute("EXECUTE smoke_one(sha256('42'::bytea))")
        one = "\n".join(r[0] for r in connection.execute("EXPLAIN EXECUTE smoke_one(sha256('42'::bytea))"))
        every = "\n".join(
            r[0] for r in connection.execute("EXPLAIN SELECT count(*) FROM citus_smoke WHERE member_id = 3")
        )
        found = connection.execute("EXECUTE smoke_one(sha256('42'::bytea))").fetchone()
        connection.execute("DEALLOCATE smoke_one")
        connection.execute("DROP TABLE citus_smoke")
    assert placements == 2, "the shards are spread over both workers"
    assert "Task Count: 1\n" in one + "\n", one
    assert f"Task Count: {shards}\n" in every + "\n", every
    assert found == (42 % 7,)


def _loan_and_reports(token: str) -> list[dict]:
    """A blacklist report, a delinquency and an open loan, all on one identifier token."""
    identifiers = [{"type": "cn_resident_id", "token": token}]
    delinquency = {"kind": "delinquency", "category": "overdue", "event_date": "2025-06-10", "overdue_days": 45}
    delinquency.update(overdue_amount="1200.50", currency="CNY", product="consumer_loan")
    loan = {"kind": "loan", "category": "open", "event_date": "2025-06-10", "credit_limit": "50000.00"}
    loan.update(outstanding_balance="20000.00", currency="CNY", product="credit_line")
    return [
        {**record(), "reference": "B1", "identifiers": identifiers},
        {**record(), **delinquency, "reference": "D1", "identifiers": identifiers},
        {**record(), **loan, "reference": "L1", "identifiers": identifiers},
    ]


def test_the_main_flow_runs_against_the_coordinator(migrated, tmp_path):
    """Submit, match, look up (a hit, a miss, both at once), inquiry counts, resolve and retract: over HTTP
    through gunicorn against the coordinator, with the token summaries and dirty tokens on the workers."""
    cluster, _seconds = migrated
    # The broker is down: every batch waits for its job, which the test then runs itself (drill_app match).
    env = platform_env(cluster, f"redis://127.0.0.1:{closed_port()}/0", PYTHONPATH=str(ROOT))
    key_a = platform_prepare(env, tmp_path)
    key_b = platform_member(env, make_uscc(9_000_001), name="Second member")
    server = Gunicorn(env, workers=1, threads=2, log=tmp_path / "gunicorn.log")
    server.start()
    try:

        def api(key: str, path: str, body: dict, **headers: str) -> dict:
            response = httpx.post(
                f"{server.url}/api/v1/{path}",
                content=orjson.dumps(body),
                headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json", **headers},
                timeout=30,
            )
            assert response.status_code in (200, 201, 202), (path, response.status_code, response.text)
            return response.json()

        def lookup(key: str, *tokens: str) -> list[dict]:
            identifiers = [{"type": "cn_resident_id", "token": token} for token in tokens]
            body = {"purpose": "credit_application", "consent_reference": "consent-1", "key_version": 1}
            return api(key, "lookups", {**body, "identifiers": identifiers})["results"]

        hit, miss = secrets.token_hex(32), secrets.token_hex(32)
        batch = api(key_a, "batches", {"records": _loan_and_reports(hit)}, **{"Idempotency-Key": str(uuid.uuid4())})
        assert batch["accepted"] == 3, batch
        matched = subprocess.run(  # noqa: S603 - our own module, fixed arguments
            [sys.executable, "-m", "tests.deploy.drill_app", "match", str(batch["id"])],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert matched.returncode == 0, matched.stderr[-3000:]
        assert json.loads(matched.stdout.strip().splitlines()[-1]) == {str(batch["id"]): True}

        [found] = lookup(key_a, hit)
        assert (found["hit"], found["reporting_members"], found["reported_by_you"]) == (True, 1, True)
        assert found["blacklist"]["categories"] == ["identity_fraud"]
        assert found["delinquency"]["active_records"] == 1 and found["delinquency"]["total_overdue_amount"] == "1200.50"
        assert found["exposure"]["open_loans"] == 1 and found["exposure"]["yours"]["open_loans"] == 1
        assert found["inquiries"] == {"members_30d": 0, "members_90d": 0}
        [missed] = lookup(key_a, miss)
        assert (missed["hit"], missed["exposure"]) == (False, None)
        # The second member's credit lookup is an inquiry the first one then sees.
        [seen] = lookup(key_b, hit)
        assert (seen["hit"], seen["reported_by_you"], seen["exposure"]["yours"]["open_loans"]) == (True, False, 0)
        both = lookup(key_a, miss, hit)
        assert [result["hit"] for result in both] == [False, True]
        assert both[1]["inquiries"] == {"members_30d": 1, "members_90d": 1}

        api(key_a, "records/D1/resolve", {"resolved_date": dt.date.today().isoformat()})
        [resolved] = lookup(key_a, hit)
        assert resolved["delinquency"]["active_records"] == 0 and resolved["blacklist"]["active"]
        api(key_a, "records/B1/retract", {"reason": "reported in error"})
        [retracted] = lookup(key_a, hit)
        # The loan alone is exposure, not a hit.
        assert (retracted["hit"], retracted["exposure"]["open_loans"]) == (False, 1)
    finally:
        server.stop()


def _read_plan(url: str, tokens: int) -> str:
    """EXPLAIN of the lookup read of ``tokens`` tokens, the statement as the service sends it.

    The statement is the one the service sends (``_read_statement``, its placeholders rewritten as
    ``core.sql`` rewrites them), prepared on the server as the service's pipeline prepares it, on a session
    set up as the platform's: settings.py's options, then what ``core.citus`` runs when a session opens.
    Executed seven times first: from the sixth on PostgreSQL may switch to a generic plan, and the routing
    must hold there too.
    """

    from core.citus import PLANS_ADAPT_SQL
    from core.sql import _binary
    from sharing.lookups.services import _read_statement

    sql, params = _read_statement(os.urandom(32) * tokens, member_id=1, now=dt.datetime.now(dt.UTC))
    with psycopg.connect(url, autocommit=True, options=settings.DATABASES["default"]["OPTIONS"]["options"]) as conn:
        conn.execute(PLANS_ADAPT_SQL)
        assert conn.execute("SELECT current_setting('plan_cache_mode')").fetchone() == ("auto",)
        for _ in range(7):
            conn.execute(_binary(sql), params, prepare=True)
        [(name,)] = conn.execute(
            "SELECT name FROM pg_prepared_statements WHERE statement LIKE '%sharing_tokensummary%'"
        ).fetchall()
        # The values in the order psycopg numbered the placeholders ($1 for the first name it met, …).
        values = [params[key] for key in dict.fromkeys(re.findall(r"%\((\w+)\)s", sql))]
        explained = psycopg.ClientCursor(conn).execute(
            f"EXPLAIN EXECUTE {name}({', '.join(['%s'] * len(values))})", values
        )
        return "\n".join(row[0] for row in explained)


def test_a_single_identifier_lookup_reads_everything_on_one_shard(migrated):
    """Summary, inquiry counts and protective registrations: one token's all sit on its shard, and the read
    names the token by value, so Citus sends the whole statement there as one task (a router query: no
    subplan, nothing gathered on the coordinator). A slice of tokens goes to every shard, each in parallel."""
    cluster, _seconds = migrated
    with psycopg.connect(cluster) as connection:
        shards = connection.execute(
            "SELECT count(*) FROM pg_dist_shard WHERE logicalrelid = 'sharing_tokensummary'::regclass"
        ).fetchone()[0]
    one = _read_plan(cluster, 1)
    assert "Distributed Subplan" not in one, one
    assert re.findall(r"Task Count: (\d+)", one) == ["1"], one
    for table in ("sharing_tokensummary", "sharing_lookupentry", "sharing_protectivetoken"):
        assert table in one, (table, one)
    # A slice of tokens cut from one buffer inside SQL: Citus cannot tell which shards hold them.
    many = _read_plan(cluster, 2_500)
    [summaries] = [part for part in many.split("Distributed Subplan") if "sharing_tokensummary" in part]
    assert int(re.search(r"Task Count: (\d+)", summaries).group(1)) == shards > 1


def test_migrating_back_brings_the_tables_to_the_coordinator_rows_and_identity_kept(migrated):
    cluster, _seconds = migrated
    env = {**os.environ, **production_secrets(), "DATABASE_URL": cluster, "CELERY_BROKER_URL": ""}
    env.pop("DEBUG", None)

    def migrate(*target: str) -> None:
        result = subprocess.run(  # noqa: S603 - our own manage.py, fixed arguments
            [sys.executable, "manage.py", "migrate", "--no-input", *target],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr[-3000:]

    def distributed(connection: psycopg.Connection) -> list[str]:
        return sorted(row[0] for row in connection.execute(DISTRIBUTED_SQL.format("logicalrelid::text")))

    key = (
        "INSERT INTO sharing_consortiumkey (version, state, check_value, created_at, created_by, retired_by,"
        " retired_reason) VALUES (%s, 'retired', '', now(), 'test', '', '') RETURNING id"
    )
    with psycopg.connect(cluster, autocommit=True) as connection:
        (first,) = connection.execute(key, [901]).fetchone()
    migrate("sharing", "0033")
    with psycopg.connect(cluster, autocommit=True) as connection:
        assert distributed(connection) == []
        # Citus refused to undistribute a table with an identity: core.citus drops it around the call.
        (second,) = connection.execute(key, [902]).fetchone()
        versions = connection.execute("SELECT version FROM sharing_consortiumkey WHERE version > 900").fetchall()
    assert second > first and sorted(versions) == [(901,), (902,)]
    migrate()
    with psycopg.connect(cluster, autocommit=True) as connection:
        assert distributed(connection) == DISTRIBUTED
        (third,) = connection.execute(key, [903]).fetchone()
        connection.execute("DELETE FROM sharing_consortiumkey WHERE version > 900")
    assert third > second
