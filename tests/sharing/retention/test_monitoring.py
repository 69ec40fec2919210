"""Retention of monitoring: expired watches, old events and old webhook deliveries, by the daily job."""

from __future__ import annotations

import datetime as dt

import pytest

from core.partitions import partitions_ensure
from members.audit import Actor
from members.models import AuditEvent
from sharing.models import MonitoringEvent, Record, Watch, WatchToken, WebhookDelivery, WebhookEndpoint
from sharing.records.services import record_resolve
from sharing.retention.tasks import retention_purge_task
from tests.sharing.conftest import new_token, reported
from tests.sharing.monitoring.test_events import mobile
from tests.sharing.monitoring.test_watches import put_watches, watch
from tests.sharing.retention.test_retention import at

DAY = dt.date(2026, 3, 2)


@pytest.fixture(autouse=True)
def months(db):
    """Every month these tests write or purge in, made before they write anything. On a Citus cluster a
    transaction that wrote the watch tokens' shards in parallel deadlocks attaching a month of the lookup log
    (co-located with them): the daily job runs in a transaction of its own, a test in one (core/citus.py)."""
    partitions_ensure(today=DAY + dt.timedelta(days=200), months_back=7)


def purge_on(day: dt.date) -> dict:
    with at(day):
        return retention_purge_task()


@pytest.fixture
def endpoint(member_a):
    return WebhookEndpoint.objects.create(member=member_a.institution, url="https://hooks.example/", secret_sealed=b"")


@pytest.fixture
def told(member_a, member_b, key_v1, endpoint):
    """On DAY, member A watches a token and member B reports a record on it: one event, one delivery."""
    token = new_token()
    with at(DAY):
        put_watches(member_a, [watch("LOAN-1", [new_token(), token], expires_on="2027-03-01")])
        reported(member_b, [mobile([token], reference="B-1", overdue_days=12)])
    (event,) = MonitoringEvent.objects.all()
    event.token = token  # the watched token, for later records on it
    return event


def delivered() -> None:
    WebhookDelivery.objects.update(status="delivered", delivered_at=dt.datetime(2026, 3, 2, 3, tzinfo=dt.UTC))


def test_expired_watches_go_90_days_on_with_a_count_only_tombstone_per_chunk(member_a, member_b, key_v1):
    with at(DAY):
        put_watches(member_a, [watch("OLD-1"), watch("OLD-2"), watch("LIVE")])
        put_watches(member_b, [watch("OLD-3")])
    Watch.objects.exclude(reference="LIVE").update(expires_on=DAY)
    assert purge_on(DAY + dt.timedelta(days=90))["watches"] == 0
    assert purge_on(DAY + dt.timedelta(days=91))["watches"] == 3
    assert list(Watch.objects.values_list("reference", flat=True)) == ["LIVE"]
    assert WatchToken.objects.count() == 1
    (tombstone,) = AuditEvent.objects.filter(action="retention.watches_purged")
    assert (tombstone.actor_type, tombstone.actor_label) == ("system", "retention")
    assert tombstone.payload == {
        "watches": 3,
        "by_member": {str(member_a.institution.pk): 2, str(member_b.institution.pk): 1},
        "expired_before": (DAY + dt.timedelta(days=1)).isoformat(),
    }
    assert "OLD" not in str(tombstone.payload)


def test_a_purged_watchs_events_stay_until_their_own_retention(told):
    delivered()
    Watch.objects.update(expires_on=DAY - dt.timedelta(days=5))
    assert purge_on(DAY + dt.timedelta(days=89))["watches"] == 1
    assert not Watch.objects.exists()
    told.refresh_from_db()
    assert told.watch_id is None and told.watch_reference == "LOAN-1"
    assert purge_on(DAY + dt.timedelta(days=90))["events"] == 1
    assert not MonitoringEvent.objects.exists() and not WebhookDelivery.objects.exists()


@pytest.mark.parametrize(("days", "purged"), [(89, False), (90, True)], ids=["day-before", "day-of"])
def test_events_of_an_ended_record_go_with_their_deliveries(member_a, member_b, told, days, purged):
    record = Record.objects.get(reference="B-1")
    with at(DAY):
        record_resolve(actor=Actor.system("tests"), record=record, resolved_date=DAY)
    assert sorted(MonitoringEvent.objects.values_list("type", flat=True)) == ["record.ended", "record.reported"]
    delivered()
    result = purge_on(DAY + dt.timedelta(days=days))
    assert MonitoringEvent.objects.exists() is not purged
    assert WebhookDelivery.objects.exists() is not purged
    assert (result["events"], result["deliveries"]) == ((2, 2) if purged else (0, 0))
    if purged:
        (tombstone,) = AuditEvent.objects.filter(action="retention.monitoring_events_purged")
        assert tombstone.payload == {
            "events": 2,
            "deliveries": 2,
            "by_member": {str(member_a.institution.pk): 2},
            "created_before": tombstone.payload["created_before"],
        }
        assert "LOAN-1" not in str(tombstone.payload)


def test_an_open_records_events_stay_so_that_its_facts_are_told_once(member_a, member_b, told):
    delivered()
    purge_on(DAY + dt.timedelta(days=200))
    assert list(MonitoringEvent.objects.values_list("pk", flat=True)) == [told.pk]
    # Its finished delivery goes; the event is still what a later change of the record is told against.
    assert not WebhookDelivery.objects.exists()
    assert AuditEvent.objects.get(action="retention.webhook_deliveries_purged").payload["deliveries"] == 1
    with at(DAY + dt.timedelta(days=201)):
        reported(member_b, [mobile([told.token], reference="B-1", overdue_days=13)])  # no second record.reported
        reported(member_b, [mobile([told.token], reference="B-1", overdue_days=40)])
    assert sorted(MonitoringEvent.objects.values_list("type", flat=True)) == [
        "delinquency.escalated",
        "record.reported",
    ]


def test_an_event_still_being_delivered_stays(told):
    Record.objects.update(status="retracted")  # the record no longer holds it
    purge_on(DAY + dt.timedelta(days=120))
    assert MonitoringEvent.objects.count() == WebhookDelivery.objects.count() == 1
    delivered()
    purge_on(DAY + dt.timedelta(days=121))
    assert MonitoringEvent.objects.count() == WebhookDelivery.objects.count() == 0


def test_old_finished_pings_go_and_pending_ones_stay(member_a, key_v1, endpoint):
    with at(DAY):
        for status in ("delivered", "dead", "pending"):
            WebhookDelivery.objects.create(endpoint=endpoint, ping={}, message_id=f"ping_{status}", status=status)
    put_watches(member_a, [watch()])
    assert purge_on(DAY + dt.timedelta(days=90))["deliveries"] == 2
    assert list(WebhookDelivery.objects.values_list("status", flat=True)) == ["pending"]
    tombstone = AuditEvent.objects.get(action="retention.webhook_deliveries_purged")
    assert (tombstone.payload["deliveries"], tombstone.payload["dead"]) == (2, 1)


def test_the_event_retention_is_a_setting(told, settings):
    settings.RISKSHARE_MONITORING_EVENT_DAYS = 30
    Record.objects.update(status="retracted")
    delivered()
    assert purge_on(DAY + dt.timedelta(days=29))["events"] == 0
    assert purge_on(DAY + dt.timedelta(days=30))["events"] == 1
