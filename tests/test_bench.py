"""Every script under bench/ runs to the end in its smoke mode (``--smoke``: tiny sizes, seconds each).

A benchmark is run by hand, rarely: without this a change of schema or of an API broke one unseen
(bench/ingest.py's COPY floor stopped on a column that had become NOT NULL). No figure is asserted.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from bench.common import TEMPLATE
from tests.conftest import database_url_of_test_database
from tests.served import PrivateCluster, free_port
from tests.worker import broker_url

BENCH = Path(__file__).resolve().parent.parent / "bench"
ROOT = BENCH.parent

# Each script's smoke run: its arguments (with {port}, {side}: NAME=CHECKOUT:DATABASE), and what it needs.
# bench/ab_lookup.py compares databases bench/lookup.py loaded: it runs after it, on its database.
SMOKE: dict[str, tuple[list[list[str]], set[str]]] = {
    "tokenize.py": ([["tokenize.py"]], set()),
    "validate.py": ([["validate.py"]], set()),
    "tlog.py": ([["tlog.py"]], {"database"}),
    "reports.py": ([["reports.py"]], {"database"}),
    "dashboard.py": ([["dashboard.py"]], {"database"}),
    "ingest.py": ([["ingest.py", "--port", "{port}"]], {"database", "broker"}),
    "monitoring.py": ([["monitoring.py", "--port", "{port}"]], {"database", "broker"}),
    "lookup.py": ([["lookup.py", "--port", "{port}"], ["ab_lookup.py", "--port", "{port}", "{side}"]], {"database"}),
    "ab_ingest.py": ([["ab_ingest.py", "--port", "{port}", "{side}"]], {"database", "broker"}),
    "ab.py": ([["ab.py", "--logs", "{logs}", "{side}", "--", "tlog.py", "--smoke"]], {"database", "uv"}),
    "faults.py": ([["faults.py"]], {"broker", "cluster"}),
    "audit.py": ([["audit.py", mode] for mode in ("writes", "retention", "pruning", "verify", "drift")], {"database"}),
    "tokens_v2.py": ([["tokens_v2.py", "--port", "{port}"]], {"database"}),
    # The HA drill cluster (deploy/ha/devcluster, var/ha): about a minute; it resets var/ha as the drills do.
    "recovery.py": ([["recovery.py"]], {"broker", "ha"}),
    # The Citus devcluster (deploy/citus/devcluster, var/citus): started if it is not running and then stopped;
    # its two databases are dropped on every node. About three minutes, most of it migrating three databases.
    "citus.py": ([["citus.py", "--port", "{port}"]], {"database", "broker", "citus"}),
}


def test_every_script_has_a_smoke_run():
    scripts = {path.name for path in BENCH.glob("*.py")} - {"common.py"}
    covered = {command[0] for commands, _needs in SMOKE.values() for command in commands}
    assert scripts == covered


def _on_the_session_server(database: str) -> str:
    """A URL of ``database`` on the test session's PostgreSQL server (the machine's, or the embedded one)."""
    return urlunsplit(urlsplit(database_url_of_test_database())._replace(path=f"/{database}"))


def _drop(database: str) -> None:
    """The smoke run's database, and those a script named after it (bench/audit.py: one per mode)."""
    with psycopg.connect(_on_the_session_server("postgres"), autocommit=True) as connection:
        names = connection.execute(
            "SELECT datname FROM pg_database WHERE datname = %s OR datname LIKE %s", [database, f"{database}\\_%"]
        ).fetchall()
        for (name,) in names:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _skip_without_devcluster(folder: str, cluster: str) -> None:
    """Skip, saying why, where deploy/<folder>/devcluster cannot run its cluster here."""
    if os.geteuid() != 0 and os.environ.get("USER") != "postgres":
        pytest.skip(f"{cluster} needs root or postgres")
    missing = subprocess.run(  # noqa: S603 - our own script
        [sys.executable, str(ROOT / "deploy" / folder / "devcluster"), "check"], capture_output=True, text=True
    )
    if missing.returncode != 0:
        pytest.skip(f"{cluster} cannot run here: {missing.stderr.strip() or missing.stdout.strip()}")


@pytest.fixture(scope="module")
def bench_template() -> Iterator[str]:
    """A database this checkout migrated once, that the smoke runs' databases copy (bench/common.py's
    fresh_database): one migrate here instead of one for each of their ~15 databases. The test session's own
    migrate, and the smoke runs' own ``migrate`` (finding nothing to apply), still run the migrations."""
    from tests.environment import production_secrets

    name = f"bench_smoke_template_{uuid.uuid4().hex[:8]}"
    _drop(name)
    with psycopg.connect(_on_the_session_server("postgres"), autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        env = {**os.environ, **production_secrets(), "DEBUG": "0", "DATABASE_URL": _on_the_session_server(name)}
        subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True, timeout=300)
        yield name
    finally:
        _drop(name)


@pytest.mark.parametrize("name", SMOKE)
def test_the_script_runs_in_smoke_mode(name, tmp_path, request):
    commands, needs = SMOKE[name]
    broker = broker_url() if "broker" in needs else None
    if "broker" in needs and broker is None:
        pytest.skip("no Redis reachable (set CELERY_BROKER_URL)")
    if "cluster" in needs and not PrivateCluster.available():
        pytest.skip("needs the PostgreSQL server binaries")
    for need, cluster in (("ha", "the drill cluster"), ("citus", "the Citus devcluster")):
        if need in needs:
            _skip_without_devcluster(need, cluster)
    if "uv" in needs and shutil.which("uv") is None:
        pytest.skip("bench/ab.py runs each side with uv")
    # Its own database: the default names are shared by everyone's runs on this server.
    database = f"bench_smoke_{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "DATABASE_URL": _on_the_session_server("postgres"),
        "RISKSHARE_BENCH_DB": database,
        **({TEMPLATE: request.getfixturevalue("bench_template")} if "database" in needs else {}),
        "UV_NO_SYNC": "1",  # bench/ab.py's `uv run`: the environment is this one
        **({"CELERY_BROKER_URL": broker} if broker else {}),
    }
    values = {"port": str(free_port()), "side": f"a={ROOT}:{database}", "logs": str(tmp_path)}
    try:
        for command in commands:
            arguments = [part.format(**values) for part in command]
            done = subprocess.run(  # noqa: S603 - our own interpreter and scripts
                [sys.executable, str(BENCH / arguments[0]), "--smoke", *arguments[1:]],
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
                # The Citus run starts a cluster and migrates three databases: ~2-4 minutes on a loaded machine.
                timeout=600 if "citus" in needs else 300,
            )
            assert done.returncode == 0, f"{' '.join(arguments)}:\n{done.stdout}\n{done.stderr}"
    finally:
        if "database" in needs:
            _drop(database)
