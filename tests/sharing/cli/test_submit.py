"""`riskshare submit` against the real API over HTTP (live server), and its retry rules."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import httpx
import pytest

from sharing.cli import main
from sharing.cli.common import Client, CliError
from sharing.models import Batch, ConsortiumKey, Record
from tests.sharing.conftest import new_token

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def records_csv(tmp_path: Path) -> Path:
    path = tmp_path / "records.csv"
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            [
                "reference",
                "kind",
                "category",
                "event_date",
                "overdue_days",
                "overdue_amount",
                "currency",
                "product",
                "key_version",
                "token:cn_resident_id",
                "token:cn_mobile",
                "branch",
            ]
        )
        for n in range(25):
            writer.writerow(
                [
                    f"L-{n}",
                    "delinquency",
                    "overdue",
                    "2025-06-01",
                    "30",
                    "99.50",
                    "CNY",
                    "bnpl",
                    "1",
                    new_token(),
                    new_token() if n % 2 else "",
                    "Shanghai",
                ]
            )
        writer.writerow(
            [
                "L-bad",
                "delinquency",
                "overdue",
                "2025-06-01",
                "0",
                "99.50",
                "CNY",
                "bnpl",
                "1",
                new_token(),
                "",
                "Shanghai",
            ]
        )
    return path


def test_submit_sends_batches_resumes_and_never_duplicates(live_server, member_a, records_csv, monkeypatch, capsys):
    ConsortiumKey.objects.create(version=1, check_value="0" * 16, created_by="tests")
    monkeypatch.setenv("RISKSHARE_API_KEY", member_a.key)
    args = ["submit", str(records_csv), "--url", live_server.url, "--batch-size", "10"]
    assert main(args) == 0
    assert Record.objects.filter(member=member_a.institution).count() == 25
    assert Batch.objects.count() == 3
    rejects = list(
        csv.reader(records_csv.with_name(records_csv.stem + ".rejects.csv").read_text(encoding="utf-8").splitlines())
    )
    assert rejects[1][:4] == ["26", "L-bad", "/overdue_days", "min_value"]
    assert "25 accepted, 1 rejected" in capsys.readouterr().err

    # Re-running skips what the state file says is done.
    assert main(args) == 0
    assert Batch.objects.count() == 3
    assert "(3 already done)" in capsys.readouterr().err

    # Without the state file (a crash before it was written), the deterministic
    # Idempotency-Key makes the server answer from its record: still no new batch.
    Path(f"{records_csv}.state.json").unlink()
    assert main(args) == 0
    assert Batch.objects.count() == 3
    state = json.loads(Path(f"{records_csv}.state.json").read_text())
    assert len(state["done"]) == 3


def test_submit_errors_are_one_line(live_server, member_a, records_csv, monkeypatch, capsys):
    monkeypatch.delenv("RISKSHARE_API_KEY", raising=False)
    assert main(["submit", str(records_csv), "--url", live_server.url]) == 1
    assert capsys.readouterr().err.strip() == "riskshare: error: set RISKSHARE_API_KEY to your credential's key"
    monkeypatch.setenv("RISKSHARE_API_KEY", "rsk_wrong")
    assert main(["submit", str(records_csv), "--url", live_server.url]) == 1
    err = [line for line in capsys.readouterr().err.strip().splitlines() if "warning: column(s) not sent" not in line]
    assert len(err) == 1 and "401 invalid_credential" in err[0]


class TestRetries:
    """The retry loop against a scripted transport: a flaky network and an overloaded proxy are outside us."""

    @staticmethod
    def client(responses: list, sleeps: list) -> Client:
        client = Client(url="http://riskshare.invalid", api_key="k", max_retries=3, timeout=5)

        def handler(request: httpx.Request) -> httpx.Response:
            item = responses.pop(0)
            if isinstance(item, Exception):
                raise item
            return item

        client.http = httpx.Client(base_url="http://riskshare.invalid", transport=httpx.MockTransport(handler))
        client._sleep = lambda url, attempt, retry_after, problem: sleeps.append((attempt, retry_after))
        return client

    def test_retries_connection_errors_5xx_409_and_429_honouring_retry_after(self):
        sleeps: list = []
        responses = [
            httpx.ConnectError("refused"),
            httpx.Response(503),
            httpx.Response(429, headers={"Retry-After": "7"}),
            httpx.Response(202, json={"id": 1}),
        ]
        assert self.client(responses, sleeps).post("/api/v1/batches", b"{}") == {"id": 1}
        assert sleeps == [(1, None), (2, None), (3, "7")]

    def test_only_a_request_still_in_flight_is_a_409_worth_retrying(self):
        sleeps: list = []
        in_flight = httpx.Response(409, json={"status": 409, "code": "request_in_flight", "detail": "x"})
        answered = [in_flight, httpx.Response(200, json={"accepted": 1})]
        assert self.client(answered, sleeps).post("/api/v1/watches", b"{}") == {"accepted": 1}
        assert sleeps == [(1, None)]
        full = [httpx.Response(409, json={"status": 409, "code": "watch_limit", "detail": "x"})]
        with pytest.raises(CliError, match="409 watch_limit"):
            self.client(full, sleeps).post("/api/v1/watches", b"{}")
        assert sleeps == [(1, None)]

    def test_delete_retries_like_the_rest_and_tells_a_missing_one(self):
        sleeps: list = []
        responses = [httpx.ConnectError("refused"), httpx.Response(503), httpx.Response(204), httpx.Response(404)]
        client = self.client(responses, sleeps)
        assert client.delete("/api/v1/watches/LOAN-1") is True
        assert client.delete("/api/v1/watches/LOAN-1") is None
        assert sleeps == [(1, None), (2, None)]

    def test_gives_up_after_max_retries(self):
        with pytest.raises(CliError, match="gave up after 4 attempts"):
            self.client([httpx.Response(500)] * 4, []).post("/api/v1/batches", b"{}")

    def test_client_errors_are_not_retried(self):
        responses = [httpx.Response(422, json={"status": 422, "code": "idempotency_key_reused", "detail": "x"})]
        with pytest.raises(CliError, match="422 idempotency_key_reused"):
            self.client(responses, []).post("/api/v1/batches", b"{}")

    def test_backoff_waits_at_least_retry_after_and_says_so(self, monkeypatch, capsys):
        waited = []
        monkeypatch.setattr("time.sleep", waited.append)
        client = Client(url="http://riskshare.invalid", api_key="k", max_retries=8, timeout=5)
        client._sleep("http://riskshare.invalid/api/v1/batches", 1, "12", "503 server_error: x")
        client._sleep("http://riskshare.invalid/api/v1/batches", 5, None, "cannot reach the server (ConnectError)")
        assert waited[0] >= 12
        assert 0 < waited[1] <= 60
        lines = capsys.readouterr().err.splitlines()
        assert lines[0] == (
            "riskshare: http://riskshare.invalid/api/v1/batches: 503 server_error: x; attempt 1 of 9, "
            f"retrying in {waited[0]:.1f} s"
        )
        assert "cannot reach the server (ConnectError); attempt 5 of 9" in lines[1]


def test_a_server_that_is_down_is_reported_within_seconds(tmp_path, monkeypatch, capsys):
    import socket
    import time

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    source = tmp_path / "r.csv"
    source.write_text("reference,kind,category\nR-1,blacklist,identity_fraud\n", encoding="utf-8")
    monkeypatch.setenv("RISKSHARE_API_KEY", "rsk_x")
    started = time.monotonic()
    code = main(["submit", str(source), "--url", f"http://127.0.0.1:{port}", "--max-retries", "2"])
    assert code == 1 and time.monotonic() - started < 10
    err = capsys.readouterr().err
    assert f"http://127.0.0.1:{port}/api/v1/batches: cannot reach the server (ConnectError); attempt 1 of 3" in err
    assert "gave up after 3 attempts" in err


def test_lookup_writes_one_result_row_per_identifier(live_server, member_a, member_b, tmp_path, monkeypatch):
    ConsortiumKey.objects.create(version=1, check_value="0" * 16, created_by="tests")
    reported_token = new_token()
    from tests.sharing.conftest import overdue, submit

    batch_id = submit(member_b, [overdue([reported_token])]).json()["id"]
    from sharing.records.services import batch_process

    batch_process(batch_id=batch_id)
    tokens = tmp_path / "tokens.csv"
    with open(tokens, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["applicant", "token:cn_resident_id", "token:cn_mobile", "key_version", "consent"])
        writer.writerow(["A1", reported_token, new_token(), "1", "form-1"])
        writer.writerow(["A2", new_token(), "", "1", "form-2"])
        writer.writerow(["A3", new_token(), "", "1", "form-1"])  # shares A1's consent: the same request
    monkeypatch.setenv("RISKSHARE_API_KEY", member_a.key)
    out = tmp_path / "results.csv"
    code = main(
        [
            "lookup",
            str(tokens),
            "--purpose",
            "credit_application",
            "--consent-column",
            "consent",
            "--key-column",
            "applicant",
            "--url",
            live_server.url,
            "-o",
            str(out),
        ]
    )
    assert code == 0
    written = out.read_text(encoding="utf-8")
    rows = list(csv.DictReader(written.splitlines()))
    assert [(r["row"], r["applicant"], r["type"], r["hit"], r["statement"]) for r in rows] == [
        ("1", "A1", "cn_resident_id", "true", "false"),
        ("1", "A1", "cn_mobile", "false", "false"),
        ("3", "A3", "cn_resident_id", "false", "false"),
        ("2", "A2", "cn_resident_id", "false", "false"),
    ]
    assert rows[0]["reporting_members"] == "1" and rows[0]["delinquency_max_overdue_days"] == "45"
    # One request per consent reference: two lookups, each logged with its own consent.
    from sharing.models import Lookup

    assert sorted(Lookup.objects.values_list("consent_reference", flat=True)) == ["form-1", "form-2"]
    # Without consent the API refuses credit purposes; the CLI reports it in one line.
    assert (
        main(["lookup", str(tokens), "--purpose", "credit_application", "--url", live_server.url, "-o", str(out)]) == 1
    )
    # The failed run left the earlier results as they were, and no partial file beside them.
    assert out.read_text(encoding="utf-8") == written
    assert sorted(path.name for path in tmp_path.iterdir()) == ["results.csv", "tokens.csv"]
