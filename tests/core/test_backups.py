"""The backup and archiving figures at /metrics: read from pgBackRest and PostgreSQL, never a 500."""

from __future__ import annotations

import json
import shlex
import time

import pytest
from rest_framework.test import APIClient

from core import backups
from tests.sharing.desk.test_observability import METRICS_TOKEN, metric

NOW = 1_800_000_000


def scrape(settings) -> str:
    settings.RISKSHARE_METRICS_TOKEN = METRICS_TOKEN
    backups._cache = None
    response = APIClient(headers={"Authorization": f"Bearer {METRICS_TOKEN}"}).get("/metrics")
    assert response.status_code == 200
    return response.content.decode()


def info(*backup_list: dict, code: int = 0) -> list[dict]:
    return [{"name": "riskshare", "status": {"code": code, "message": "ok"}, "backup": list(backup_list)}]


def backup(kind: str, stop: int, *, error: bool = False) -> dict:
    return {"type": kind, "timestamp": {"start": stop - 5, "stop": stop}, "error": error}


def test_the_newest_good_backup_of_each_type_is_read_from_pgbackrest_info():
    parsed = backups.repository_parse(
        info(backup("full", NOW - 86_400), backup("diff", NOW - 3_600), backup("diff", NOW - 60, error=True)),
        "riskshare",
    )
    assert parsed.readable and parsed.status_code == 0
    assert parsed.newest == {"full": NOW - 86_400, "diff": NOW - 3_600}  # the failed one does not count
    assert backups.repository_parse(info(), "other").newest == {}


def test_without_a_stanza_the_metrics_say_not_configured(db, settings):
    settings.RISKSHARE_PGBACKREST_STANZA = ""
    text = scrape(settings)
    assert metric(text, "riskshare_backup_configured") == 0
    assert metric(text, "riskshare_backup_last_good_age_seconds", type="any") == -1
    # A database that archives nothing says so, and its lag is "unknown", not an error.
    archiving, lag = metric(text, "riskshare_wal_archiving"), metric(text, "riskshare_wal_archive_lag_seconds")
    assert lag == -1 if not archiving else lag >= 0


def test_a_failing_pgbackrest_is_a_metric_not_a_500(db, settings):
    settings.RISKSHARE_PGBACKREST_STANZA = "riskshare"
    settings.RISKSHARE_PGBACKREST_COMMAND = "false"
    text = scrape(settings)
    assert metric(text, "riskshare_backup_configured") == 1
    assert metric(text, "riskshare_backup_repository_readable") == 0
    assert metric(text, "riskshare_backup_last_good_age_seconds", type="full") == -1
    settings.RISKSHARE_PGBACKREST_COMMAND = "/nonexistent/pgbackrest"
    assert metric(scrape(settings), "riskshare_backup_repository_readable") == 0


def test_backup_ages_reach_metrics(db, settings, tmp_path):
    answer = tmp_path / "info.json"
    now = int(time.time())
    answer.write_text(json.dumps(info(backup("full", now - 7_200), backup("incr", now - 300))))
    settings.RISKSHARE_PGBACKREST_STANZA = "riskshare"
    # A stand-in pgBackRest that prints a recorded answer whatever it is asked.
    settings.RISKSHARE_PGBACKREST_COMMAND = f"sh -c {shlex.quote('cat ' + str(answer))} pgbackrest"
    text = scrape(settings)
    assert metric(text, "riskshare_backup_repository_readable") == 1
    assert metric(text, "riskshare_backup_last_good_age_seconds", type="full") == pytest.approx(7_200, abs=30)
    assert metric(text, "riskshare_backup_last_good_age_seconds", type="any") == pytest.approx(300, abs=30)
    assert metric(text, "riskshare_backup_last_good_age_seconds", type="diff") == -1
