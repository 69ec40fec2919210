"""Backups and WAL archiving as Prometheus metrics (a collector of ``RISKSHARE_METRICS_COLLECTORS``).

Two sources, each degrading to a documented "unknown" rather than an error page:

- pgBackRest's own account of its repository (``pgbackrest info --output=json``): the age of the newest
  backup that completed without error, of each type, and the stanza's status. Read at most once a minute per
  process (it reads the repository, a second disk or object storage) and never for longer than 20 s.
  ``RISKSHARE_PGBACKREST_STANZA`` unset: ``riskshare_backup_configured`` is 0 and the ages are -1.
- PostgreSQL's archiver (``pg_stat_archiver``) on the primary the application is connected to: how much WAL
  is waiting to be archived and for how long. What is not archived is what a restore from the repository
  would lose if the primary and its standby were both gone.
"""

from __future__ import annotations

import json
import logging
import shlex
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from django.conf import settings
from django.db import DatabaseError, connection
from prometheus_client.core import GaugeMetricFamily

logger = logging.getLogger(__name__)

UNKNOWN = -1.0
INFO_CACHE_SECONDS = 60.0
INFO_TIMEOUT_SECONDS = 20.0
BACKUP_TYPES = ("full", "diff", "incr")


@dataclass
class RepositoryInfo:
    configured: bool
    readable: bool = False
    status_code: int = -1
    # The stop time (Unix seconds) of the newest good backup, by type.
    newest: dict[str, float] = field(default_factory=dict)


_cache: tuple[float, RepositoryInfo] | None = None


def repository_info(*, now: float | None = None) -> RepositoryInfo:
    """pgBackRest's view of the configured stanza, cached for a minute."""
    global _cache
    now = time.time() if now is None else now
    if _cache is not None and now - _cache[0] < INFO_CACHE_SECONDS:
        return _cache[1]
    info = _repository_read()
    _cache = (now, info)
    return info


def _repository_read() -> RepositoryInfo:
    stanza = settings.RISKSHARE_PGBACKREST_STANZA
    if not stanza:
        return RepositoryInfo(configured=False)
    config = settings.RISKSHARE_PGBACKREST_CONFIG
    argv = [
        *shlex.split(settings.RISKSHARE_PGBACKREST_COMMAND),
        *([f"--config={config}"] if config else []),
        f"--stanza={stanza}",
        "--output=json",
        "info",
    ]
    try:
        # The command comes from the operator's settings, never from a request.
        answer = subprocess.run(argv, capture_output=True, text=True, timeout=INFO_TIMEOUT_SECONDS, check=True)  # noqa: S603
        stanzas = json.loads(answer.stdout)
    except (OSError, subprocess.SubprocessError, ValueError) as exc:
        logger.error("pgbackrest info failed for stanza %s: %s", stanza, str(exc)[:300])
        return RepositoryInfo(configured=True)
    return repository_parse(stanzas, stanza)


def repository_parse(stanzas: list[dict], stanza: str) -> RepositoryInfo:
    """The figures of ``stanza`` in ``pgbackrest info --output=json``'s answer."""
    entry = next((s for s in stanzas if s.get("name") == stanza), None)
    if entry is None:
        return RepositoryInfo(configured=True, readable=True)
    newest: dict[str, float] = {}
    for backup in entry.get("backup", []):
        if backup.get("error"):
            continue
        kind, stopped = backup.get("type"), backup.get("timestamp", {}).get("stop")
        if kind in BACKUP_TYPES and stopped:
            newest[kind] = max(newest.get(kind, 0.0), float(stopped))
    code = entry.get("status", {}).get("code", -1)
    return RepositoryInfo(configured=True, readable=True, status_code=int(code), newest=newest)


# How much WAL waits for the archiver: the bytes written after the end of the last archived segment, and the
# time since that segment was archived when any do (nothing pending: no lag, however long ago that was).
_ARCHIVER_SQL = """
    SELECT current_setting('archive_mode'), pg_is_in_recovery(), last_archived_wal,
           extract(epoch FROM now() - last_archived_time), coalesce(last_failed_time > last_archived_time, false)
           OR (last_failed_time IS NOT NULL AND last_archived_time IS NULL),
           CASE WHEN pg_is_in_recovery() THEN NULL ELSE pg_current_wal_lsn() - '0/0'::pg_lsn END,
           pg_size_bytes(current_setting('wal_segment_size'))
    FROM pg_stat_archiver
"""


@dataclass
class ArchiveState:
    archiving: bool = False
    failing: bool = False
    pending_bytes: float = UNKNOWN
    lag_seconds: float = UNKNOWN


def archive_state() -> ArchiveState:
    try:
        with connection.cursor() as cursor:
            cursor.execute(_ARCHIVER_SQL)
            mode, in_recovery, last_wal, age, failing, current, segment = cursor.fetchone()
    except DatabaseError as exc:
        logger.warning("pg_stat_archiver could not be read: %s", exc)
        return ArchiveState()
    state = ArchiveState(archiving=mode in {"on", "always"} and not in_recovery, failing=bool(failing))
    if not state.archiving or current is None:
        return state
    if last_wal is None or len(last_wal) != 24:
        # Nothing archived yet (or a timeline history file, last): everything since start-up is pending.
        return state
    log, seg = int(last_wal[8:16], 16), int(last_wal[16:24], 16)
    archived_end = (log << 32) + (seg + 1) * segment
    state.pending_bytes = float(max(0, int(current) - archived_end))
    state.lag_seconds = float(age) if state.pending_bytes > 0 else 0.0
    return state


def collect() -> Iterator[GaugeMetricFamily]:
    now = time.time()
    info = repository_info(now=now)
    yield GaugeMetricFamily(
        "riskshare_backup_configured",
        "1 when RISKSHARE_PGBACKREST_STANZA names the pgBackRest stanza of this database, else 0.",
        value=int(info.configured),
    )
    yield GaugeMetricFamily(
        "riskshare_backup_repository_readable",
        "1 when the last pgbackrest info answered (read at most once a minute), else 0.",
        value=int(info.readable),
    )
    yield GaugeMetricFamily(
        "riskshare_backup_status_code",
        "pgBackRest's status code of the stanza: 0 ok, 2 no valid backups, others per pgBackRest; -1 unknown.",
        value=info.status_code,
    )
    ages = GaugeMetricFamily(
        "riskshare_backup_last_good_age_seconds",
        "Seconds since the newest backup without error of each type finished; -1 when there is none or unknown.",
        labels=["type"],
    )
    for kind in BACKUP_TYPES:
        stopped = info.newest.get(kind)
        ages.add_metric([kind], now - stopped if stopped else UNKNOWN)
    newest = max(info.newest.values(), default=None)
    ages.add_metric(["any"], now - newest if newest else UNKNOWN)
    yield ages

    archive = archive_state()
    yield GaugeMetricFamily(
        "riskshare_wal_archiving",
        "1 when the connected database is a primary archiving its WAL (archive_mode on), else 0.",
        value=int(archive.archiving),
    )
    yield GaugeMetricFamily(
        "riskshare_wal_archive_failing",
        "1 when the archiver's last attempt failed (pg_stat_archiver), else 0.",
        value=int(archive.failing),
    )
    yield GaugeMetricFamily(
        "riskshare_wal_archive_pending_bytes",
        "WAL written after the last archived segment: lost by a restore if both database machines were; -1 unknown.",
        value=archive.pending_bytes,
    )
    yield GaugeMetricFamily(
        "riskshare_wal_archive_lag_seconds",
        "Archive lag: seconds since the last segment was archived while WAL waits (0 when none waits); -1 unknown.",
        value=archive.lag_seconds,
    )
