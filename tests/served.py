"""A served platform for fault tests and bench/faults.py: its own PostgreSQL cluster, gunicorn, a worker.

Never the machine's shared cluster: ``PrivateCluster`` runs ``initdb`` and ``pg_ctl`` from the
PostgreSQL binaries into a temporary directory, on a free loopback port, as the ``postgres`` user
when started as root (initdb refuses root), so that a test can stop and restart it at will.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

from tests.environment import production_secrets

BASE_DIR = Path(__file__).resolve().parent.parent
PG_BIN = Path(os.environ.get("RISKSHARE_PG_BIN", "/usr/lib/postgresql/15/bin"))
# The member every served platform starts with.
USCC = "91310000MA1FL0001R"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def closed_port() -> int:
    """A loopback port nothing listens on (a broker that is down)."""
    return free_port()


def _as_postgres(command: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


class PrivateCluster:
    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="riskshare-faults-"))
        self.data = self.root / "data"
        self.port = free_port()
        self.log = self.root / "postgres.log"

    @staticmethod
    def available() -> bool:
        return (PG_BIN / "initdb").exists() and (os.geteuid() != 0 or shutil.which("runuser") is not None)

    def _run(self, *command: str) -> None:
        subprocess.run(_as_postgres(list(command)), check=True, capture_output=True, timeout=120)  # noqa: S603

    def init(self) -> None:
        self.root.chmod(0o755)
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres")
        self._run(str(PG_BIN / "initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust", "--no-sync")

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c full_page_writes=off -c max_connections=60"
        )
        self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "start")

    def stop(self, mode: str = "fast") -> None:
        self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")

    def url(self, database: str = "riskshare") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, database: str = "riskshare") -> None:
        import psycopg

        with psycopg.connect(self.url("postgres"), autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{database}"')

    def destroy(self) -> None:
        with contextlib.suppress(Exception):
            self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


def platform_env(database_url: str, broker_url: str, **extra: str) -> dict[str, str]:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "CELERY_BROKER_URL": broker_url,
        "CELERY_RESULT_BACKEND": broker_url,
        "DEBUG": "0",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "0",
        "DJANGO_SETTINGS_MODULE": "config.settings",
        **production_secrets(),
        **extra,
    }
    return env


_MEMBER = """
import datetime as dt, io
from django.core.management import call_command
call_command("member_create", name=NAME, uscc=USCC, kind="bank", licence_number=USCC[-6:],
             licence_expiry=dt.date(2030, 1, 1), activate=True, stdout=io.StringIO())
out = io.StringIO()
call_command("credential_issue", uscc=USCC, scopes="records:write,lookups,reports:read,disputes", stdout=out)
if KEY_FILE:
    call_command("consortium_key_new", out=KEY_FILE, stdout=io.StringIO())
print(out.getvalue().strip().splitlines()[-1])
"""


def platform_member(env: dict[str, str], uscc: str, *, name: str = "Fault member", key_file: Path | None = None) -> str:
    """Create one active member and its API key (returned); with ``key_file``, a consortium key written there."""
    code = f"USCC = {uscc!r}; NAME = {name!r}; KEY_FILE = {str(key_file) if key_file else ''!r}\n" + _MEMBER
    done = subprocess.run(  # noqa: S603
        [sys.executable, "manage.py", "shell", "-c", code], cwd=BASE_DIR, env=env, check=True, capture_output=True
    )
    return done.stdout.decode().strip().splitlines()[-1]


def platform_prepare(env: dict[str, str], work: Path) -> str:
    """Migrate the database, create one active member, its API key (returned) and a consortium key."""
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput"], cwd=BASE_DIR, env=env, check=True, capture_output=True
    )
    return platform_member(env, USCC, key_file=work / "consortium-key.json")


class Gunicorn:
    def __init__(self, env: dict[str, str], *, workers: int = 1, threads: int = 4, log: Path | None = None):
        self.env, self.workers, self.threads = env, workers, threads
        self.port = free_port()
        self.log = log
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60) -> None:
        out = self.log.open("ab") if self.log else subprocess.DEVNULL
        self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and project
            [
                sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "config.wsgi",
                "--bind", f"127.0.0.1:{self.port}", "--workers", str(self.workers), "--threads", str(self.threads),
                "--access-logfile", "/dev/null", "--no-control-socket",
            ],
            cwd=BASE_DIR, env=self.env, stdout=out, stderr=out,
        )  # fmt: skip
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            time.sleep(0.2)
        raise RuntimeError("gunicorn did not start")

    def worker_pids(self) -> list[int]:
        assert self.process
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(pid) for pid in children.read_text().split()]

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


class CeleryWorker:
    def __init__(self, env: dict[str, str], *, beat: bool = False, log: Path | None = None):
        self.env, self.beat, self.log = env, beat, log
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        out = self.log.open("ab") if self.log else subprocess.DEVNULL
        command = [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool", "solo", "--loglevel", "WARNING"]
        if self.beat:
            command += ["--beat", "--schedule", str(Path(tempfile.mkdtemp()) / "beat-schedule")]
        self.process = subprocess.Popen(command, cwd=BASE_DIR, env=self.env, stdout=out, stderr=out)  # noqa: S603

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def record() -> dict:
    """One valid blacklist record under consortium key version 1, with a reference of its own."""
    return {
        "reference": f"F-{uuid.uuid4().hex}",
        "kind": "blacklist",
        "category": "identity_fraud",
        "identifiers": [{"type": "cn_resident_id", "token": secrets.token_hex(32)}],
        "key_version": 1,
        "event_date": "2025-03-01",
    }


def slow_body(url: str, path: str = "/api/v1/batches", length: int = 100_000) -> socket.socket:
    """A connection that sent its headers and starts trickling a body of ``length`` bytes."""
    host, port = url.removeprefix("http://").split(":")
    connection = socket.create_connection((host, int(port)))
    connection.sendall(
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {length}\r\nAuthorization: Bearer x\r\n\r\n{{".encode()
    )
    return connection
