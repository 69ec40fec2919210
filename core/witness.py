"""The history witness: the heads of the platform's published histories, kept outside the database.

A restore to an earlier point brings back an older database, and with it older heads of the audit chain and
of the verifiable log. Continuing from them would publish a second, different history (a Certificate
Transparency log that signs two inconsistent checkpoints is distrusted). So the newest heads are also written
to a small JSON file that a restore does not bring back: ``RISKSHARE_HISTORY_WITNESS``, on the disk (or the
mount) that holds the backup repository. The apps read and write their own sections (``audit``, ``log``);
this module only keeps the file: written whole to a temporary file, flushed to disk, then renamed over the
old one, under an exclusive lock, so a reader sees either the old or the new content and never half of one.

Unset: no witness (development and tests); production sets it (docs/operations.md, "Histories that never
fork").
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from django.conf import settings


def witness_path() -> Path | None:
    value = settings.RISKSHARE_HISTORY_WITNESS
    return Path(value) if value else None


def witness_read() -> dict[str, Any]:
    """The recorded heads (``{}`` when there is no witness or nothing was recorded yet)."""
    path = witness_path()
    if path is None or not path.exists():
        return {}
    return json.loads(path.read_text(encoding="utf-8"))


@contextmanager
def _locked(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def witness_update(section: str, change: Callable[[dict[str, Any] | None], dict[str, Any] | None]) -> None:
    """Replace ``section`` by ``change(current section)``, atomically; ``None`` from ``change`` keeps it as it is."""
    path = witness_path()
    if path is None:
        return
    with _locked(path):
        document = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
        updated = change(document.get(section))
        if updated is None or updated == document.get(section):
            return
        document[section] = updated
        temporary = path.with_name(path.name + ".tmp")
        with open(temporary, "w", encoding="utf-8") as out:
            json.dump(document, out, indent=2, sort_keys=True)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
        directory = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
