"""The CLI's shared behaviour and its small commands: alerts, batches, --wait, --version, partial files."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from sharing.cli import main
from sharing.models import ConsortiumKey
from sharing.tokens.keyfile import key_file_write, key_generate
from tests.sharing.conftest import blacklist, new_token, submit


def test_version_and_defaults_in_help(capsys, monkeypatch):
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.startswith("riskshare ")
    monkeypatch.setenv("RISKSHARE_URL", "http://127.0.0.1:8000")
    with pytest.raises(SystemExit):
        main(["submit", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "(default: 10000)" in text and "(default: $RISKSHARE_URL)" in text


def test_an_interrupted_tokenize_leaves_no_file_under_the_final_name(tmp_path, monkeypatch):
    key = tmp_path / "key.json"
    key_file_write(key, key_generate(version=1))
    key.chmod(0o600)
    source = tmp_path / "in.csv"
    with open(source, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["phone"])
        writer.writerows([["13800138000"]] * 20_000)
    out = tmp_path / "out.csv"
    out.write_text("an earlier complete run\n")
    import sys

    tokenize_module = sys.modules["sharing.cli.tokenize"]  # the package exports a function of that name

    calls = {"n": 0}
    real = tokenize_module.token_for_canonical

    def interrupted(*args):
        calls["n"] += 1
        if calls["n"] == 12_345:
            raise KeyboardInterrupt
        return real(*args)

    monkeypatch.setattr(tokenize_module, "token_for_canonical", interrupted)
    args = ["tokenize", str(source), "-o", str(out), "--key-file", str(key), "--column", "phone=cn_mobile"]
    assert main(args) == 130
    assert out.read_text() == "an earlier complete run\n"
    assert not (tmp_path / "in.rejects.csv").exists()
    assert sorted(path.name for path in tmp_path.iterdir()) == ["in.csv", "key.json", "out.csv"]


def test_submit_warns_about_columns_it_does_not_send_and_waits_for_matching(
    live_server, member_a, tmp_path, monkeypatch, capsys
):
    ConsortiumKey.objects.create(version=1, check_value="0" * 16, created_by="tests")
    source = tmp_path / "records.csv"
    source.write_text(
        "reference,kind,category,event_date,key_version,token:cn_resident_id,company_uscc\n"
        f"R-1,blacklist,identity_fraud,2025-03-01,1,{new_token()},91310000MA1FL0001R\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("RISKSHARE_API_KEY", member_a.key)
    monkeypatch.setenv("RISKSHARE_URL", live_server.url)
    assert main(["submit", str(source), "--wait"]) == 0
    err = capsys.readouterr().err
    assert "warning: column(s) not sent: company_uscc" in err
    assert "matching finished for 1 batch(es)" in err
    state = json.loads(Path(f"{source}.state.json").read_text())
    batch_id = state["done"]["0"]["batch_id"]
    assert main(["batches", "status", str(batch_id)]) == 0
    assert capsys.readouterr().out.split("\t")[:2] == [str(batch_id), "done"]


def test_alerts_list_and_ack(live_server, member_a, member_b, key_v1, monkeypatch, capsys):
    from sharing.records.services import batch_process

    token = new_token()
    batch_process(batch_id=submit(member_a, [blacklist([token])]).json()["id"])
    filed = member_b.client().post(
        "/api/v1/disputes",
        {"identifiers": [{"type": "cn_resident_id", "token": token}], "key_version": 1, "reason": "not me"},
        format="json",
    )
    assert filed.status_code == 201, filed.content
    monkeypatch.setenv("RISKSHARE_API_KEY", member_a.key)
    monkeypatch.setenv("RISKSHARE_URL", live_server.url)
    assert main(["alerts", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1
    alert_id, _created, kind = lines[0].split("\t")
    assert kind.startswith("dispute")
    assert main(["alerts", "ack", alert_id]) == 0
    capsys.readouterr()
    assert main(["alerts", "list"]) == 0
    assert capsys.readouterr().out == ""
    assert main(["alerts", "list", "--all"]) == 0
    assert capsys.readouterr().out.startswith(alert_id + "\t")


def test_an_interrupted_lookup_resumes_without_asking_twice(live_server, member_a, key_v1, tmp_path, monkeypatch):
    from sharing.cli.common import Client
    from sharing.models import Lookup

    tokens = tmp_path / "tokens.csv"
    with open(tokens, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["applicant", "token:cn_resident_id", "key_version", "consent"])
        writer.writerows([[f"A{n}", new_token(), "1", f"form-{n}"] for n in range(3)])
    monkeypatch.setenv("RISKSHARE_API_KEY", member_a.key)
    monkeypatch.setenv("RISKSHARE_URL", live_server.url)
    out = tmp_path / "results.csv"
    args = ["lookup", str(tokens), "--purpose", "credit_application", "--consent-column", "consent", "-o", str(out)]

    real_post = Client.post
    calls = {"n": 0}

    def flaky(self, path, body, headers=None):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real_post(self, path, body, headers)

    monkeypatch.setattr(Client, "post", flaky)
    assert main(args) == 130
    assert not out.exists() and Lookup.objects.count() == 2
    monkeypatch.setattr(Client, "post", real_post)
    assert main(args) == 0
    assert Lookup.objects.count() == 3  # only the request not answered before
    rows = list(csv.DictReader(out.read_text(encoding="utf-8").splitlines()))
    assert sorted(row["row"] for row in rows) == ["1", "2", "3"]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["results.csv", "tokens.csv"]


def test_a_loan_submitted_from_csv_reads_back_in_the_lookup_csv(
    live_server, member_a, member_b, key_v1, tmp_path, monkeypatch
):
    from sharing.models import Batch
    from sharing.records.services import batch_process

    token = new_token()
    records = tmp_path / "loans.csv"
    with open(records, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        columns = [
            "reference",
            "kind",
            "category",
            "key_version",
            "event_date",
            "credit_limit",
            "outstanding_balance",
            "currency",
            "product",
            "maturity_date",
            "token:cn_resident_id",
        ]
        writer.writerow(columns)
        writer.writerow(
            [
                "L-1",
                "loan",
                "open",
                "1",
                "2025-06-10",
                "50000.00",
                "20000.00",
                "CNY",
                "credit_line",
                "2027-06-09",
                token,
            ]
        )
    monkeypatch.setenv("RISKSHARE_URL", live_server.url)
    monkeypatch.setenv("RISKSHARE_API_KEY", member_b.key)
    assert main(["submit", str(records)]) == 0
    for batch_id in Batch.objects.values_list("pk", flat=True):
        batch_process(batch_id=batch_id)
    tokens = tmp_path / "tokens.csv"
    tokens.write_text(f"token:cn_resident_id,key_version\n{token},1\n{new_token()},1\n", encoding="utf-8")
    monkeypatch.setenv("RISKSHARE_API_KEY", member_a.key)
    out = tmp_path / "results.csv"
    assert main(["lookup", str(tokens), "--purpose", "post_loan_monitoring", "-o", str(out)]) == 0
    loaned, missed = csv.DictReader(out.read_text(encoding="utf-8").splitlines())
    assert {k: v for k, v in loaned.items() if k.startswith("exposure_")} == {
        "exposure_lenders": "1",
        "exposure_open_loans": "1",
        "exposure_total_credit_limit": "50000.00",
        "exposure_total_outstanding": "20000.00",
        "exposure_latest_opened": "2025-06-10",
        "exposure_stale_loans": "0",
        "exposure_yours_open_loans": "0",
        "exposure_yours_total_outstanding": "0.00",
        "exposure_relief_lenders": "0",
        "exposure_relief_since": "",
        "exposure_relief_kinds": "",
        "exposure_relief_yours": "false",
    }
    assert loaned["hit"] == "false"
    assert all(v == "" for k, v in missed.items() if k.startswith("exposure_"))


def test_relief_submitted_from_csv_reads_back_in_the_lookup_csv(
    live_server, member_a, member_b, key_v1, tmp_path, monkeypatch
):
    """An extension on a loan and a deferral on a delinquency, sent by riskshare submit; another member's
    riskshare lookup writes them in its relief columns."""
    from sharing.models import Batch, Record
    from sharing.records.services import batch_process

    token = new_token()
    records = tmp_path / "relief.csv"
    columns = "reference,kind,category,key_version,event_date,overdue_days,overdue_amount,credit_limit,"
    columns += (
        "outstanding_balance,currency,product,maturity_date,relief,relief_start,new_maturity_date,token:cn_resident_id"
    )
    records.write_text(
        f"{columns}\n"
        f"L-1,loan,open,1,2025-06-10,,,50000.00,20000.00,CNY,credit_line,2026-06-09,extension,2025-11-01,2027-06-09,{token}\n"
        f"D-1,delinquency,overdue,1,2025-06-10,45,1200.50,,,CNY,consumer_loan,,deferral,2025-08-01,,{token}\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("RISKSHARE_URL", live_server.url)
    monkeypatch.setenv("RISKSHARE_API_KEY", member_b.key)
    assert main(["submit", str(records)]) == 0
    for batch_id in Batch.objects.values_list("pk", flat=True):
        batch_process(batch_id=batch_id)
    assert sorted(Record.objects.values_list("reference", "relief")) == [("D-1", "deferral"), ("L-1", "extension")]
    tokens = tmp_path / "tokens.csv"
    tokens.write_text(f"token:cn_resident_id,key_version\n{token},1\n", encoding="utf-8")
    monkeypatch.setenv("RISKSHARE_API_KEY", member_a.key)
    out = tmp_path / "results.csv"
    assert main(["lookup", str(tokens), "--purpose", "post_loan_monitoring", "-o", str(out)]) == 0
    (row,) = csv.DictReader(out.read_text(encoding="utf-8").splitlines())
    assert row["delinquency_under_relief"] == "1"
    assert {k: v for k, v in row.items() if k.startswith("exposure_relief_")} == {
        "exposure_relief_lenders": "1",
        "exposure_relief_since": "2025-08-01",
        "exposure_relief_kinds": "deferral;extension",
        "exposure_relief_yours": "false",
    }
