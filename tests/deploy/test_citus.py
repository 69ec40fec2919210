"""The schema on a real Citus cluster (deploy/citus/devcluster: a coordinator and two workers under var/citus,
ports 5481-5483), the foundation of issue 32:

1. ``manage.py migrate`` against the coordinator applies every migration and distributes what today's schema
   allows (sharing.0034): the consortium key versions a reference table, the token summaries and dirty tokens
   sharded by token and co-located; every other table stays local to the coordinator (docs/design.md,
   "Distribution (Citus)", lists what distributing them still hits);
2. the cluster distributes: a scratch table made distributed by a token column sends ``token = $1`` to one
   shard (EXPLAIN's task count 1) and a statement without the token to all of them, the property every hot
   statement's routing test will rest on.

It needs root (or the postgres user) and Citus built into the system PostgreSQL 15 (``devcluster build``;
.ci/run builds it when the source is at ../shared/citus). Without them it is skipped, saying what is missing.
About 30 s once Citus is built: it starts the cluster if it is down (and stops it again after), creates a
fresh database on every node and migrates it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from tests.environment import production_secrets

ROOT = Path(__file__).resolve().parents[2]
DEVCLUSTER = ROOT / "deploy" / "citus" / "devcluster"
DATABASE = "riskshare_citus_test"

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


@pytest.fixture(scope="module")
def cluster():
    missing = devcluster("check", check=False)
    if missing.returncode != 0:
        pytest.skip(f"Citus is not available here: {missing.stderr.strip()}")
    was_running = devcluster("status", check=False).returncode == 0
    if not was_running:
        devcluster("start")
    devcluster("dropdb", DATABASE)
    url = devcluster("createdb", DATABASE).stdout.strip()
    yield url
    devcluster("dropdb", DATABASE, check=False)
    if not was_running:
        devcluster("stop", check=False)


def test_migrate_applies_every_migration_and_distributes_the_token_tables(cluster):
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
    print(f"migrate on the Citus coordinator: {time.monotonic() - started:.1f} s")
    with psycopg.connect(cluster) as connection:
        extension = connection.execute("SELECT extversion FROM pg_extension WHERE extname = 'citus'").fetchone()
        workers = connection.execute("SELECT count(*) FROM pg_dist_node WHERE groupid <> 0").fetchone()[0]
        tables = connection.execute(
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tablename LIKE 'sharing\\_%'"
        ).fetchone()[0]
        distributed = {
            table: rest
            for table, *rest in connection.execute(
                "SELECT logicalrelid::text, partmethod, colocationid, column_to_column_name(logicalrelid, partkey)"
                " FROM pg_dist_partition"
            )
        }
        applied = connection.execute("SELECT count(*) FROM django_migrations").fetchone()[0]
    assert extension is not None and workers == 2
    assert tables > 20 and applied > 0
    assert sorted(distributed) == ["sharing_consortiumkey", "sharing_dirtytoken", "sharing_tokensummary"]
    reference, summaries, dirty = (
        distributed[table] for table in ("sharing_consortiumkey", "sharing_tokensummary", "sharing_dirtytoken")
    )
    assert reference[0] == "n", "the key versions are a reference table (a copy on every node)"
    assert summaries[0] == dirty[0] == "h" and summaries[2] == dirty[2] == "token", "sharded by the token's hash"
    assert summaries[1] == dirty[1], "a token's summary and its dirty mark on the same shard"


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
