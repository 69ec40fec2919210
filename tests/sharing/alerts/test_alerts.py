"""GET /api/v1/alerts and POST /api/v1/alerts/{id}/ack."""

from __future__ import annotations

from members.models import AuditEvent
from sharing.alerts.services import alerts_create
from sharing.models import Alert
from tests.conftest import issue


def test_alerts_are_listed_newest_first_in_pages(member_a, member_b):
    alerts_create([(member_a.institution.pk, "dispute_resolved", {"dispute_id": n}) for n in range(5)])
    alerts_create([(member_b.institution.pk, "dispute_resolved", {"dispute_id": 99})])

    first = member_a.client().get("/api/v1/alerts?page_size=3").json()
    second = member_a.client().get(first["next"]).json()

    ids = [alert["id"] for alert in first["results"] + second["results"]]
    assert ids == sorted(ids, reverse=True) and len(ids) == 5
    assert {alert["payload"]["dispute_id"] for alert in first["results"] + second["results"]} == set(range(5))
    assert second["next"] is None


def test_acknowledging_is_once_audited_and_private(member_a, member_b):
    alerts_create([(member_a.institution.pk, "dispute_resolved", {"dispute_id": 1})])
    alert = Alert.objects.get()
    # Any valid key of the member may read and acknowledge its alerts.
    lookups_only = issue(member_a.institution, scopes=["lookups"])

    assert member_b.client().post(f"/api/v1/alerts/{alert.pk}/ack").status_code == 404
    first = lookups_only.client().post(f"/api/v1/alerts/{alert.pk}/ack")
    again = member_a.client().post(f"/api/v1/alerts/{alert.pk}/ack")

    assert first.status_code == 200 and first.json()["acknowledged_at"] is not None
    assert again.json()["acknowledged_at"] == first.json()["acknowledged_at"]
    alert.refresh_from_db()
    assert alert.acknowledged_by_id == lookups_only.credential.pk
    assert AuditEvent.objects.filter(action="alert.acknowledged").count() == 1
    unread = member_a.client().get("/api/v1/alerts?unacknowledged=true").json()["results"]
    assert unread == []
    assert len(member_a.client().get("/api/v1/alerts").json()["results"]) == 1


def test_alert_list_query_count_does_not_grow_with_alerts(member_a, django_assert_max_num_queries):
    alerts_create([(member_a.institution.pk, "dispute_resolved", {"dispute_id": n}) for n in range(50)])
    client = member_a.client()
    client.get("/api/v1/alerts")  # warm the credential's last-used stamp
    with django_assert_max_num_queries(4):
        assert len(client.get("/api/v1/alerts?page_size=50").json()["results"]) == 50
