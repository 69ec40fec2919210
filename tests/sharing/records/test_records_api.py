"""A member's own records: list, read, resolve, retract."""

from __future__ import annotations

from members.models import AuditEvent
from sharing.models import Record
from tests.sharing.conftest import blacklist, days_ago, overdue, submit


def test_list_is_own_records_only_with_filters_and_cursor(member_a, member_b, key_v1):
    submit(member_a, [blacklist() for _ in range(3)] + [overdue() for _ in range(2)])
    submit(member_b, [blacklist()])
    client = member_a.client()
    page = client.get("/api/v1/records", {"page_size": 2}).json()
    references = [r["reference"] for r in page["results"]]
    while page["next"]:
        page = client.get(page["next"]).json()
        references += [r["reference"] for r in page["results"]]
    assert sorted(references) == sorted(
        Record.objects.filter(member=member_a.institution).values_list("reference", flat=True)
    )
    assert len(references) == 5
    delinquent = client.get("/api/v1/records", {"kind": "delinquency"}).json()["results"]
    assert {r["category"] for r in delinquent} == {"overdue"} and len(delinquent) == 2
    assert client.get("/api/v1/records", {"status": "retracted"}).json()["results"] == []
    assert client.get("/api/v1/records", {"updated_since": "2999-01-01T00:00:00Z"}).json()["results"] == []
    bad = client.get("/api/v1/records", {"kind": "gossip"})
    assert bad.status_code == 400 and bad.json()["errors"][0]["field"] == "/kind"


def test_record_detail_and_isolation(member_a, member_b, key_v1):
    submit(member_a, [overdue(reference="LOAN:7")])
    detail = member_a.client().get("/api/v1/records/LOAN:7")
    assert detail.status_code == 200
    body = detail.json()
    assert body["overdue_amount"] == "1200.50" and body["identifier_types"] == ["cn_resident_id"]
    foreign = member_b.client().get("/api/v1/records/LOAN:7")
    missing = member_b.client().get("/api/v1/records/NOPE")
    assert foreign.status_code == missing.status_code == 404
    assert foreign.json() == missing.json()
    assert member_b.client().post("/api/v1/records/LOAN:7/retract", {"reason": "x"}, format="json").status_code == 404


def test_resolve(member_a, key_v1):
    submit(member_a, [overdue(reference="L1", event_date="2025-06-10")])
    client = member_a.client()
    early = client.post("/api/v1/records/L1/resolve", {"resolved_date": "2025-01-01"}, format="json")
    assert early.status_code == 400 and early.json()["code"] == "date_order"
    response = client.post("/api/v1/records/L1/resolve", {"resolved_date": days_ago(1)}, format="json")
    assert response.status_code == 200
    assert response.json()["status"] == "resolved"
    again = client.post("/api/v1/records/L1/resolve", {"resolved_date": days_ago(1)}, format="json")
    assert again.status_code == 409 and again.json()["code"] == "record_not_active"
    assert AuditEvent.objects.filter(action="record.resolved").count() == 1


def test_retract(member_a, key_v1):
    submit(member_a, [blacklist(reference="B1")])
    client = member_a.client()
    assert client.post("/api/v1/records/B1/retract", {}, format="json").status_code == 400
    response = client.post("/api/v1/records/B1/retract", {"reason": "reported the wrong person"}, format="json")
    assert response.status_code == 200
    assert response.json()["status"] == "retracted"
    assert client.post("/api/v1/records/B1/retract", {"reason": "again"}, format="json").status_code == 409
    event = AuditEvent.objects.get(action="record.retracted")
    assert event.payload == {"reason": "reported the wrong person"} and event.actor_type == "credential"
