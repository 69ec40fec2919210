"""The recovery drills on a real cluster (deploy/ha/devcluster: etcd, two Patroni nodes in synchronous mode,
pgBackRest), each printing what it measured:

1. a retry storm through HTTP (bench/faults.py's clients: several members' threads POSTing batches with an
   Idempotency-Key, retrying on any failure, to gunicorn and a real Celery worker that reach the cluster
   through the multi-host DATABASE_URL) while the primary's postmaster is SIGKILLed and its data directory
   deleted: the standby takes over; of what the clients were acknowledged nothing is lost, doubled or
   partial; writes resume within 30 s (measured); the worker (with beat, as in production) matches every
   batch by itself; and a synchronous standby exists again (checked);
2. the cluster is destroyed and restored to the latest WAL: every acknowledged row is there, the audit chain
   verifies, the member's own `riskshare log verify` passes against the checkpoint it saw before the
   restore, and both histories continue the heads recorded outside the database;
3. a point-in-time restore to before the last signed checkpoint: the platform refuses to sign and to extend
   the audit chain, and a restore of the latest state of the previous timeline (the runbook) ends the hold.

It needs root (or the postgres user), Debian's etcd-server, etcd-client, patroni and pgbackrest (.ci/run
installs them) and Redis for the worker; where one is missing it is skipped, saying what is missing. About 4–5
minutes on the shared 2-core machine. It deletes and rebuilds var/ha/ (the devcluster of this checkout); with
another checkout's cluster on the default ports, set RISKSHARE_HA_PORT_OFFSET (e.g. 100).
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import httpx
import psycopg
import pytest

from bench.faults import check, run_clients, wait_matched
from tests.environment import production_secrets
from tests.served import CeleryWorker, Gunicorn, platform_env, platform_prepare
from tests.worker import broker_url

ROOT = Path(__file__).resolve().parents[2]
DEVCLUSTER = ROOT / "deploy" / "ha" / "devcluster"
WITNESS = ROOT / "var" / "ha" / "riskshare-history.json"
DATABASE = "riskshare_drill"
# One set of secrets for every process of the drill: the sequencer run by tests.deploy.drill_app and the
# served platform sign and serve the same log.
SECRETS = production_secrets()
logging.getLogger("httpx").setLevel(logging.WARNING)  # thousands of retried POSTs, each logged at INFO

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 and os.environ.get("USER") != "postgres", reason="the drill cluster needs root or postgres"
)


def devcluster(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(  # noqa: S603 - our own script, fixed arguments
        [sys.executable, str(DEVCLUSTER), *args], capture_output=True, text=True, timeout=600
    )
    if check and result.returncode != 0:
        raise AssertionError(f"devcluster {' '.join(args)} failed:\n{result.stderr[-3000:]}")
    return result


def app_env(broker: str = "", **extra: str) -> dict[str, str]:
    url = devcluster("url", DATABASE).stdout.strip()
    return platform_env(url, broker, **SECRETS, RISKSHARE_HISTORY_WITNESS=str(WITNESS), PYTHONPATH=str(ROOT), **extra)


def app(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(  # noqa: S603 - our own code, fixed arguments
        [sys.executable, *args], cwd=ROOT, env=app_env(), capture_output=True, text=True, timeout=300
    )
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed ({result.returncode}):\n{result.stderr[-3000:]}")
    return result


def drill_app(*args: str) -> dict:
    return json.loads(app("-m", "tests.deploy.drill_app", *args).stdout.strip().splitlines()[-1])


def status() -> dict:
    return json.loads(devcluster("status").stdout)


@pytest.fixture(scope="module")
def cluster():
    missing = devcluster("check", check=False)
    if missing.returncode != 0:
        pytest.skip(f"the drill cluster cannot run here: {missing.stderr.strip()}")
    devcluster("reset")
    # Reset however the drill ends, a failed set-up included: a cluster left running holds its ports.
    try:
        devcluster("start")
        admin = devcluster("url", "postgres").stdout.strip()
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f"CREATE DATABASE {DATABASE}")
        app("manage.py", "migrate", "-v0")
        with psycopg.connect(devcluster("url", DATABASE).stdout.strip(), autocommit=True) as connection:
            connection.execute("CREATE TABLE drill (id bigint PRIMARY KEY, member int, at timestamptz DEFAULT now())")
            connection.execute("CREATE TABLE drill_app (at double precision PRIMARY KEY)")
        yield devcluster("url", DATABASE).stdout.strip()
    finally:
        if not os.environ.get("RISKSHARE_KEEP_DRILL_CLUSTER"):
            devcluster("reset")


class Members:
    """Members writing rows with their own ids, each retried with the same id until acknowledged (a batch
    retried with its Idempotency-Key): an acknowledgement lost in a failover is harmless."""

    def __init__(self, url: str, count: int = 3):
        self.url, self.count = url, count
        self.acknowledged: list[tuple[int, float]] = []
        self.attempts = 0
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._write, args=(m,), daemon=True) for m in range(count)]

    def __enter__(self):
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for thread in self.threads:
            thread.join(30)

    def _write(self, member: int) -> None:
        connection = None
        n = 0
        while not self.stop.is_set():
            row = (int(time.time() * 1000) * 10 + member) * 1000 + n % 1000
            while not self.stop.is_set():
                with self.lock:
                    self.attempts += 1
                try:
                    if connection is None or connection.closed:
                        connection = psycopg.connect(self.url, autocommit=True, connect_timeout=2)
                    connection.execute(
                        "INSERT INTO drill (id, member) VALUES (%s, %s) ON CONFLICT DO NOTHING", [row, member]
                    )
                except psycopg.Error:
                    if connection is not None:
                        connection.close()
                    connection = None
                    time.sleep(0.2)
                    continue
                with self.lock:
                    self.acknowledged.append((row, time.time()))
                break
            n += 1
            time.sleep(0.02)


def rows_present(url: str, ids: list[int]) -> int:
    with psycopg.connect(url, autocommit=True) as connection:
        return connection.execute("SELECT count(*) FROM drill WHERE id = ANY(%s)", [ids]).fetchone()[0]


def member_log_verify(url: str, key: str, state: Path, batches: list[int]) -> subprocess.CompletedProcess:
    """The member's own verifier (sharing/cli), as a member runs it: its state file keeps the checkpoint seen."""
    log_key = httpx.get(f"{url}/api/v1/log/key", headers={"Authorization": f"Bearer {key}"}, timeout=30)
    assert log_key.status_code == 200, log_key.text
    return subprocess.run(  # noqa: S603 - the project's own command
        [
            str(Path(sys.executable).parent / "riskshare"), "log", "verify", "--url", url, "--state", str(state),
            "--key", log_key.text.strip(), "--max-retries", "3", *(f"--batch={batch}" for batch in batches),
        ],
        env={**os.environ, "RISKSHARE_API_KEY": key}, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def unmatched_report(url: str, batch_ids: list[int], log: Path) -> str:
    """What a failed wait leaves to read: the batches still unmatched and the end of the worker's log."""
    with psycopg.connect(url, autocommit=True) as connection:
        rows = connection.execute(
            "SELECT id, status, attempts, enqueue_failed, updated_at FROM sharing_batch"
            " WHERE id = ANY(%s) AND status <> 'done' ORDER BY id LIMIT 20",
            [batch_ids],
        ).fetchall()
    tail = log.read_text(errors="replace")[-4000:] if log.exists() else "(no worker log)"
    return f"the Celery worker did not match every acknowledged batch after the fault: {rows}\n{tail}"


def gap_after(times: list[float], moment: float) -> float:
    """The longest time without an acknowledgement ending after ``moment`` (from the last one before it)."""
    return max((b - a for a, b in itertools.pairwise(sorted(times)) if b >= moment), default=float("inf"))


def test_failover_backup_restore_and_a_history_that_never_forks(cluster, capsys, tmp_path):
    measured = {}
    first = drill_app("publish", "20")
    assert first.get("checkpoint"), first

    broker = broker_url()
    if broker is None:
        pytest.skip("no Redis reachable (set CELERY_BROKER_URL): the drill runs a real Celery worker")
    env = app_env(
        broker,
        CELERY_TASK_DEFAULT_QUEUE=f"drill-{uuid.uuid4().hex[:8]}",
        CELERY_RESULT_BACKEND=broker,
        RISKSHARE_RATE_LIMIT_BATCHES="1000000",  # the clients retry as fast as they can
        # The sweep (beat, every minute) re-enqueues what a task's own retries gave up on while the database
        # was away; production waits 5 minutes before calling a batch lost, the drill cannot.
        RISKSHARE_BATCH_STALE_AFTER="60",
    )
    key = platform_prepare(env, tmp_path)
    server = Gunicorn(env, workers=2, threads=4, log=tmp_path / "gunicorn.log")
    # The worker runs as in production, with beat (the sweep, the sequencers); it stops after drill 1, so that
    # drills 2 and 3 sign and restore only what they ask for.
    worker = CeleryWorker(env, beat=True, log=tmp_path / "celery.log")
    try:
        server.start()
        worker.start()
        state = tmp_path / "member-log.state.json"

        # --- drill 1: the primary dies with its disk during a retry storm ---------------------------------
        stop = threading.Event()
        outcome, threads = run_clients(server.url, key, clients=4, batches=10_000, records=20, limit=150, stop=stop)
        time.sleep(5)
        before = status()
        killed = devcluster("kill", "--wipe").stdout.strip()
        killed_at = time.monotonic()  # the kill is the command's last act
        assert killed == before["primary"]
        time.sleep(15)  # the clients keep retrying through the failover
        stop.set()
        for thread in threads:
            thread.join(120)
        outage = gap_after(outcome.answered_at, killed_at)
        result = check(cluster, outcome)
        assert result["acknowledged_records_lost"] == 0, result
        assert result["batches_duplicated"] == 0, result
        assert result["partial_batches"] == 0, result
        assert result["gave_up"] == 0 and result["answered"] == result["batches_sent"], result
        assert any(at > killed_at + outage for at in outcome.answered_at), "no batch answered after the failover"
        assert outage < 30, f"writes resumed only after {outage:.1f} s"
        deadline = time.time() + 90
        while time.time() < deadline and status()["sync_standby"] != killed:
            time.sleep(1)
        standby_again = time.monotonic() - killed_at
        after = status()
        assert after["primary"] != killed and after["sync_standby"] == killed, after
        # The worker's backlog (a solo pool matching every batch of the storm) takes a while on a loaded machine.
        matched = wait_matched(cluster, outcome.batch_ids, limit=300)
        assert matched is not None, unmatched_report(cluster, outcome.batch_ids, tmp_path / "celery.log")
        worker.stop()
        measured["drill1"] = {
            **{name: result[name] for name in ("batches_sent", "answered", "max_attempts", "answers")},
            "records_acknowledged": len(outcome.answered_keys) * 20,
            "lost": result["acknowledged_records_lost"],
            "duplicated": result["batches_duplicated"],
            "partial": result["partial_batches"],
            "write_outage_s": round(outage, 1),
            "sync_standby_again_s": round(standby_again, 1),
            "all_matched_s_after_kill": round(time.monotonic() - killed_at, 1),
        }

        # --- drill 2: destroy, restore the latest ------------------------------------------------------
        second = drill_app("publish", "20")
        assert second["checkpoint"] > first["checkpoint"]
        batches = outcome.batch_ids[:3]
        seen = member_log_verify(server.url, key, state, batches)
        assert seen.returncode == 0, seen.stderr
        devcluster("backup", "--type", "diff")
        with Members(cluster) as members:
            time.sleep(3)
        acknowledged = [row for row, _at in members.acknowledged]
        target = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + f".{int(time.time() % 1 * 1e6):06d}+00:00"
        time.sleep(1)
        third = drill_app("publish", "20")
        assert third["checkpoint"] > second["checkpoint"]
        seen = member_log_verify(server.url, key, state, batches)  # the member sees the third checkpoint
        assert seen.returncode == 0, seen.stderr
        started = time.time()
        restored = json.loads(devcluster("restore", "--primary-only").stdout.strip().splitlines()[-1])
        measured["drill2"] = {"restore_s": round(time.time() - started, 1), **restored}
        assert rows_present(cluster, acknowledged) == len(acknowledged)
        assert check(cluster, outcome)["acknowledged_records_lost"] == 0
        assert drill_app("commands", "history_check", "audit_verify", "log_verify") == {
            "history_check": 0,
            "audit_verify": 0,
            "log_verify": 0,
        }
        verified = member_log_verify(server.url, key, state, batches)
        assert verified.returncode == 0, verified.stdout + verified.stderr
        measured["drill2"]["member_log_verify"] = verified.stdout.strip().splitlines()[-1:]
    finally:
        worker.stop()
        server.stop()

    # --- drill 3: back to before the last checkpoint, by mistake -----------------------------------------
    with psycopg.connect(cluster, autocommit=True) as connection:
        before_pitr_timeline = connection.execute("SELECT timeline_id FROM pg_control_checkpoint()").fetchone()[0]
    started = time.time()
    devcluster("restore", "--primary-only", "--target", target)
    measured["drill3"] = {"pitr_restore_s": round(time.time() - started, 1)}
    assert rows_present(cluster, acknowledged) == len(acknowledged)  # written before the target
    assert drill_app("commands", "history_check") == {"history_check": 1}
    with psycopg.connect(cluster, autocommit=True) as connection:
        signed = connection.execute("SELECT count(*) FROM sharing_logcheckpoint").fetchone()[0]
    # Nothing signed: the third checkpoint is not signed again, nor a different one in its place.
    assert drill_app("sequence") == {"held": ["audit_chain", "verifiable_log"], "checkpoints": signed}
    # The runbook: restore the latest state of the timeline the platform ran on before the mistaken restore.
    devcluster("restore", "--timeline", str(before_pitr_timeline))
    assert drill_app("commands", "history_check") == {"history_check": 0}
    assert drill_app("publish", "5")["checkpoint"] > third["checkpoint"]
    with capsys.disabled():
        print(f"\nrecovery drills measured: {json.dumps(measured)}")
