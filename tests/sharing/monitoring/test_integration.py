"""Post-loan monitoring as an integrator uses it, through the API only: watch, be told, poll, receive, unwatch."""

from __future__ import annotations

import orjson
import pytest
from standardwebhooks.webhooks import Webhook

from sharing.monitoring.delivery import deliveries_run
from sharing.records.services import batch_process
from tests.sharing.conftest import new_token, overdue, submit
from tests.sharing.monitoring.test_watches import put_watches, watch


def feed(member, after: int = 0) -> dict:
    response = member.client().get(f"/api/v1/monitoring/events?after={after}")
    assert response.status_code == 200, response.content
    return response.json()


def report(member, records) -> None:
    response = submit(member, records)
    assert response.status_code == 202, response.content
    batch_process(batch_id=response.json()["id"])  # what the matching worker does with it


def test_watch_be_told_poll_receive_a_signed_webhook_and_unwatch(member_a, member_b, key_v1, receiver):
    mobile, resident_id = new_token(), new_token()
    answer = put_watches(member_a, [watch("LOAN-1", [resident_id, mobile]), watch("LOAN-2")]).json()
    assert answer == {"accepted": 2, "rejected": 0, "errors": []}
    endpoint = member_a.client().post("/api/v1/webhook-endpoints", {"url": receiver.url}, format="json").json()

    # Another lender reports the borrower overdue, under the mobile number only.
    record = overdue(reference="B-LOAN-9", overdue_days=45)
    record["identifiers"] = [{"type": "cn_mobile", "token": mobile}]
    report(member_b, [record])

    page = feed(member_a)
    (event,) = page["results"]
    assert (event["type"], event["watch"], event["identifier_type"]) == ("record.reported", "LOAN-1", "cn_mobile")
    assert event["data"] == {"kind": "delinquency", "category": "overdue", "overdue_days": 45}
    assert page["last_id"] == event["id"] and feed(member_a, page["last_id"])["results"] == []
    assert feed(member_b)["results"] == []  # the reporter watches nothing

    assert deliveries_run() == 1
    (delivered,) = receiver.received
    payload = Webhook(endpoint["secret"]).verify(delivered.body, delivered.headers)
    assert payload == {"type": "record.reported", "timestamp": event["created_at"], "data": event}
    assert delivered.headers["webhook-id"] == f"evt_{event['id']}"
    assert b"B-LOAN-9" not in delivered.body and member_b.institution.name.encode() not in delivered.body

    # The debt escalates elsewhere: told once, with the bucket crossed.
    report(member_b, [{**record, "overdue_days": 95}])
    report(member_b, [{**record, "overdue_days": 96}])
    (escalated,) = feed(member_a, page["last_id"])["results"]
    assert (escalated["type"], escalated["data"]) == ("delinquency.escalated", {"bucket": 90, "overdue_days": 95})

    # The loan is repaid: the watch goes, and nothing more is told about it.
    assert member_a.client().delete("/api/v1/watches/LOAN-1").status_code == 204
    assert member_a.client().get("/api/v1/watches/LOAN-1").status_code == 404
    report(member_b, [{**record, "overdue_days": 200}])
    assert feed(member_a, escalated["id"])["results"] == []
    assert [w["reference"] for w in member_a.client().get("/api/v1/watches").json()["results"]] == ["LOAN-2"]


@pytest.mark.parametrize("after", ["9223372036854775808", "99999999999999999999"])
def test_a_cursor_past_any_event_id_is_refused_not_a_server_error(member_a, key_v1, after):
    response = member_a.client().get(f"/api/v1/monitoring/events?after={after}")
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "/after"


def test_a_replay_after_past_any_event_id_is_refused(member_a, key_v1, receiver):
    endpoint = member_a.client().post("/api/v1/webhook-endpoints", {"url": receiver.url}, format="json").json()
    body = orjson.dumps({"after": 2**63})
    response = member_a.client().generic(
        "POST", f"/api/v1/webhook-endpoints/{endpoint['id']}/replay", body, content_type="application/json"
    )
    assert response.status_code == 400 and response.json()["code"] == "max_value"
