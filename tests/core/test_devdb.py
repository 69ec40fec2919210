"""manage.py devdb and the embedded server's life: a dead process must never keep it running."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.utils import translation

from core.embedded_db import embedded_status

ROOT = Path(__file__).resolve().parents[2]

# A process that joins the embedded server on a data directory, says so, and waits.
HOLDER = """
import sys, time
from pathlib import Path
from core.embedded_db import embedded_database_url
embedded_database_url(Path(sys.argv[1]))
print("up", flush=True)
time.sleep(float(sys.argv[2]))
"""


def hold(data_dir: Path, seconds: float = 120) -> subprocess.Popen:
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and script
        [sys.executable, "-c", HOLDER, str(data_dir), str(seconds)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env={key: value for key, value in os.environ.items() if key != "DATABASE_URL"},
    )
    assert process.stdout.readline().strip() == "up"
    return process


def devdb(*args: str) -> str:
    out = StringIO()
    with translation.override("en"):
        call_command("devdb", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def data_dir(tmp_path, settings):
    # Short: the server's Unix socket lives in it when the path fits.
    path = tmp_path / "pgdata"
    settings.EMBEDDED_PGDATA_DIR = path
    yield path
    from core.embedded_db import embedded_stop

    embedded_stop(path)


def wait_stopped(data_dir: Path, seconds: float = 20) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not embedded_status(data_dir).running:
            return True
        time.sleep(0.2)
    return False


def test_a_killed_process_leaves_a_dead_pid_that_no_longer_keeps_the_server(data_dir):
    killed = hold(data_dir)
    killed.kill()
    killed.wait()
    out = devdb("status")
    assert "Running: pid" in out
    assert f"Listed but dead (ignored, dropped at the next start or stop): {killed.pid}" in out
    assert "No live process holds it" in out

    # The next process to use it drops the dead pid, and stops the server when it leaves.
    hold(data_dir, seconds=0).wait(timeout=60)
    assert wait_stopped(data_dir)
    assert "Stopped: data" in devdb("status")


def test_sigterm_stops_the_server_with_its_last_holder(data_dir):
    holder = hold(data_dir)
    assert f"Held by process(es) {holder.pid}" in devdb("status")
    holder.send_signal(signal.SIGTERM)
    assert holder.wait(timeout=60) == 128 + signal.SIGTERM
    assert wait_stopped(data_dir)


def test_stop_stops_a_server_that_a_live_process_holds(data_dir):
    holder = hold(data_dir)
    try:
        out = devdb("stop")
        assert "Stopped the embedded database" in out
        assert str(holder.pid) in out
        assert not embedded_status(data_dir).running
        assert "The embedded database was not running." in devdb("stop")
    finally:
        holder.kill()
        holder.wait()


def test_reset_asks_first_then_deletes_the_data_and_the_demo_key_files(data_dir, monkeypatch):
    hold(data_dir, seconds=0).wait(timeout=60)
    (data_dir.parent / "consortium-key-v1.json").write_text("{}")
    (data_dir.parent / "report-signing-key.pem").write_text("kept")
    monkeypatch.setattr(sys, "stdin", StringIO(""))  # not a terminal: nobody to ask
    with pytest.raises(CommandError, match="--yes"):
        devdb("reset")  # the message names the option in every language
    assert (data_dir / "PG_VERSION").exists()

    out = devdb("reset", "--yes")
    assert not data_dir.exists()
    assert not (data_dir.parent / "consortium-key-v1.json").exists()
    assert (data_dir.parent / "report-signing-key.pem").read_text() == "kept"
    assert "Deleted the demo consortium key file(s) consortium-key-v1.json" in out
    assert "Kept " in out
    assert "No embedded database" in devdb("status")
