"""The recovery drills on a real cluster (deploy/ha/devcluster: etcd, two Patroni nodes in synchronous mode,
pgBackRest), each printing what it measured:

1. members write, retrying with the same keys, while the primary's postmaster is SIGKILLed and its data
   directory deleted: the standby takes over, no acknowledged row is lost or doubled, writes resume within
   30 s, a long-lived worker comes back by itself, and a synchronous standby exists again (checked);
2. the cluster is destroyed and restored to the latest WAL: every acknowledged row is there, the audit chain
   and the log verify, and both continue the heads recorded outside the database;
3. a point-in-time restore to before the last signed checkpoint: the platform refuses to sign and to extend
   the audit chain, and a restore of the latest state of the previous timeline (the runbook) ends the hold.

It needs root (or the postgres user) and Debian's etcd-server, etcd-client, patroni and pgbackrest: .ci/run
installs them; where they are missing it is skipped, saying what is missing. About 4–6 minutes on the shared
2-core machine. It deletes and rebuilds var/ha/ (the devcluster of this checkout).
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import psycopg
import pytest

ROOT = Path(__file__).resolve().parents[2]
DEVCLUSTER = ROOT / "deploy" / "ha" / "devcluster"
WITNESS = ROOT / "var" / "ha" / "riskshare-history.json"
DATABASE = "riskshare_drill"

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


def app_env() -> dict[str, str]:
    url = devcluster("url", DATABASE).stdout.strip()
    return {
        **os.environ,
        "DATABASE_URL": url,
        "CELERY_BROKER_URL": "",
        "RISKSHARE_HISTORY_WITNESS": str(WITNESS),
        "PYTHONPATH": str(ROOT),
    }


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
    devcluster("start")
    admin = devcluster("url", "postgres").stdout.strip()
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f"CREATE DATABASE {DATABASE}")
    app("manage.py", "migrate", "-v0")
    with psycopg.connect(devcluster("url", DATABASE).stdout.strip(), autocommit=True) as connection:
        connection.execute("CREATE TABLE drill (id bigint PRIMARY KEY, member int, at timestamptz DEFAULT now())")
        connection.execute("CREATE TABLE drill_app (at double precision PRIMARY KEY)")
    yield devcluster("url", DATABASE).stdout.strip()
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

    def longest_gap_after(self, moment: float) -> float:
        """The longest time without an acknowledgement ending after ``moment`` (from the last one before it)."""
        times = sorted(at for _row, at in self.acknowledged)
        return max((b - a for a, b in itertools.pairwise(times) if b >= moment), default=float("inf"))


def rows_present(url: str, ids: list[int]) -> int:
    with psycopg.connect(url, autocommit=True) as connection:
        return connection.execute("SELECT count(*) FROM drill WHERE id = ANY(%s)", [ids]).fetchone()[0]


def test_failover_backup_restore_and_a_history_that_never_forks(cluster, capsys):
    measured = {}
    first = drill_app("publish", "20")
    assert first.get("checkpoint"), first

    # --- drill 1: the primary dies with its disk while members write ---------------------------------------
    writer = subprocess.Popen(
        [sys.executable, "-m", "tests.deploy.drill_app", "writer", "30"],
        cwd=ROOT,
        env=app_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert writer.stdout.readline().strip() == "ready"
    with Members(cluster) as members:
        time.sleep(5)
        before = status()
        killed = devcluster("kill", "--wipe").stdout.strip()
        killed_at = time.time()  # the kill is the command's last act
        assert killed == before["primary"]
        time.sleep(15)
    outage = members.longest_gap_after(killed_at)
    acknowledged = [row for row, _at in members.acknowledged]
    assert rows_present(cluster, acknowledged) == len(acknowledged) == len(set(acknowledged))
    assert outage < 30, f"writes resumed only after {outage:.1f} s"
    after_kill = [at for at in json.loads(writer.communicate(timeout=120)[0].strip().splitlines()[-1])["succeeded"]]
    assert any(at > killed_at + outage for at in after_kill), "the long-lived worker never wrote again"
    deadline = time.time() + 90
    while time.time() < deadline and status()["sync_standby"] != killed:
        time.sleep(1)
    after = status()
    assert after["primary"] != killed and after["sync_standby"] == killed, after
    measured["drill1"] = {
        "acknowledged": len(acknowledged),
        "attempts": members.attempts,
        "lost": 0,
        "write_outage_s": round(outage, 1),
        "standby_again_s": round(time.time() - killed_at, 1),
    }

    # --- drill 2: destroy, restore the latest ------------------------------------------------------------
    second = drill_app("publish", "20")
    assert second["checkpoint"] > first["checkpoint"]
    devcluster("backup", "--type", "diff")
    with Members(cluster) as members:
        time.sleep(3)
    acknowledged = [row for row, _at in members.acknowledged]
    target = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + f".{int(time.time() % 1 * 1e6):06d}+00:00"
    time.sleep(1)
    third = drill_app("publish", "20")
    assert third["checkpoint"] > second["checkpoint"]
    started = time.time()
    restored = json.loads(devcluster("restore", "--primary-only").stdout.strip().splitlines()[-1])
    measured["drill2"] = {"restore_s": round(time.time() - started, 1), **restored}
    assert rows_present(cluster, acknowledged) == len(acknowledged)
    assert drill_app("commands", "history_check", "audit_verify", "log_verify") == {
        "history_check": 0,
        "audit_verify": 0,
        "log_verify": 0,
    }

    # --- drill 3: back to before the last checkpoint, by mistake -----------------------------------------
    with psycopg.connect(cluster, autocommit=True) as connection:
        before_pitr_timeline = connection.execute("SELECT timeline_id FROM pg_control_checkpoint()").fetchone()[0]
    started = time.time()
    devcluster("restore", "--primary-only", "--target", target)
    measured["drill3"] = {"pitr_restore_s": round(time.time() - started, 1)}
    assert rows_present(cluster, acknowledged) == len(acknowledged)  # written before the target
    assert drill_app("commands", "history_check") == {"history_check": 1}
    # Two checkpoints: the third is not signed again, nor a different one in its place.
    assert drill_app("sequence") == {"held": ["audit_chain", "verifiable_log"], "checkpoints": 2}
    # The runbook: restore the latest state of the timeline the platform ran on before the mistaken restore.
    devcluster("restore", "--timeline", str(before_pitr_timeline))
    assert drill_app("commands", "history_check") == {"history_check": 0}
    assert drill_app("publish", "5")["checkpoint"] > third["checkpoint"]
    with capsys.disabled():
        print(f"\nrecovery drills measured: {json.dumps(measured)}")
