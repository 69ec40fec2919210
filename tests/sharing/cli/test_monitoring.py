"""`riskshare watch add|remove` and `riskshare events` against the real API over HTTP (live server)."""

from __future__ import annotations

import csv
import datetime as dt
import json
from pathlib import Path

import pytest

from sharing.cli import main
from sharing.models import ConsortiumKey, IdempotencyKey, Watch
from sharing.records.services import batch_process
from tests.sharing.conftest import new_token, submit
from tests.sharing.monitoring.test_events import mobile

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def watches_csv(tmp_path: Path) -> tuple[Path, list[str]]:
    path = tmp_path / "watches.csv"
    tokens = [new_token() for _ in range(12)]
    expiry = (dt.date.today() + dt.timedelta(days=300)).isoformat()
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["reference", "expires_on", "key_version", "token:cn_mobile"])
        for n, token in enumerate(tokens):
            writer.writerow([f"LOAN-{n}", expiry, "1", token])
        writer.writerow(["LOAN-bad", "2001-01-01", "1", new_token()])
    return path, tokens


def test_watch_add_resumes_and_remove_deletes(live_server, member_a, watches_csv, monkeypatch, capsys):
    ConsortiumKey.objects.create(version=1, check_value="0" * 16, created_by="tests")
    monkeypatch.setenv("RISKSHARE_API_KEY", member_a.key)
    path, _tokens = watches_csv
    args = ["watch", "add", str(path), "--consent-reference", "C-2024-1", "--url", live_server.url, "--batch-size", "5"]
    assert main(args) == 0
    assert Watch.objects.filter(member=member_a.institution).count() == 12
    rejects = list(csv.reader(Path(f"{path}.rejects.csv").read_text(encoding="utf-8").splitlines()))
    assert rejects[1][:4] == ["13", "LOAN-bad", "/expires_on", "past_date"]
    assert "12 accepted, 1 rejected" in capsys.readouterr().err
    assert main(args) == 0
    assert "(3 already done)" in capsys.readouterr().err
    Path(f"{path}.state.json").unlink()
    keys = IdempotencyKey.objects.count()
    assert main(args) == 0  # answered from the idempotency records: nothing new
    assert IdempotencyKey.objects.count() == keys

    assert main(["watch", "remove", "LOAN-0", "LOAN-1", "--url", live_server.url]) == 0
    assert not Watch.objects.filter(reference__in=["LOAN-0", "LOAN-1"]).exists()
    assert main(["watch", "remove", "LOAN-0", "--url", live_server.url]) == 1


def test_events_keep_their_cursor_so_a_restart_neither_loses_nor_repeats(
    live_server, member_a, member_b, watches_csv, monkeypatch, tmp_path
):
    ConsortiumKey.objects.create(version=1, check_value="0" * 16, created_by="tests")
    monkeypatch.setenv("RISKSHARE_API_KEY", member_a.key)
    path, tokens = watches_csv
    main(["watch", "add", str(path), "--consent-reference", "C-2024-1", "--url", live_server.url])

    def report(some):
        batch_process(batch_id=submit(member_b, [mobile([t]) for t in some]).json()["id"])

    report(tokens[:4])
    state, output = tmp_path / "events.state.json", tmp_path / "events.jsonl"
    feed = ["events", "--state", str(state), "--output", str(output), "--url", live_server.url]
    assert main(feed) == 0
    # A run killed after writing lines but before saving its cursor: the next run cuts them off first.
    with open(output, "a", encoding="utf-8") as handle:
        handle.write('{"id": 999999, "half": "written"}\n')
    report(tokens[4:7])
    assert main(feed) == 0
    lines = [json.loads(line) for line in output.read_text(encoding="utf-8").splitlines()]
    ids = [event["id"] for event in lines]
    assert len(ids) == 7 and ids == sorted(set(ids))
    assert {event["type"] for event in lines} == {"record.reported"}
    assert json.loads(state.read_text())["after"] == ids[-1]
