"""Monitoring events from matching, resolutions, disputes and credit inquiries; the polling feed."""

from __future__ import annotations

import datetime as dt

import orjson
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from members.audit import Actor
from sharing.disputes.services import dispute_settle
from sharing.models import Batch, Dispute, MonitoringEvent, Record, Watch
from sharing.monitoring.events import inquiry_events_produce
from sharing.records.matching import batch_match
from sharing.records.services import record_resolve, record_retract
from tests.conftest import issue
from tests.factories import InstitutionFactory, OperatorFactory
from tests.sharing.conftest import blacklist, lookup, new_token, overdue, reported, submit
from tests.sharing.monitoring.test_watches import put_watches, watch


def events(member) -> list[dict]:
    return member.client().get("/api/v1/monitoring/events?page_size=1000").json()["results"]


def types(member) -> list[str]:
    return [event["type"] for event in events(member)]


@pytest.fixture
def watched(member_a, key_v1):
    """A token member A watches (loan LOAN-1), through its mobile number."""
    token = new_token()
    assert put_watches(member_a, [watch("LOAN-1", [new_token(), token])]).json()["accepted"] == 1
    return token


def mobile(tokens, **overrides):
    record = overdue(**overrides)
    record["identifiers"] = [{"type": "cn_mobile", "token": tokens[0]}]
    return record


def test_another_members_new_record_is_told_without_naming_it(member_a, member_b, watched):
    reported(member_b, [mobile([watched], overdue_days=12)])
    (event,) = events(member_a)
    assert event == {
        "id": event["id"],
        "type": "record.reported",
        "created_at": event["created_at"],
        "watch": "LOAN-1",
        "identifier_type": "cn_mobile",
        "data": {"kind": "delinquency", "category": "overdue", "overdue_days": 12},
    }
    text = orjson.dumps(event).decode()
    assert member_b.institution.name not in text and member_b.institution.uscc not in text
    # The reporter watches nothing and is told nothing.
    assert events(member_b) == []


def test_a_members_own_records_never_produce_events(member_a, watched):
    reported(member_a, [mobile([watched])])
    assert events(member_a) == []


def test_rerun_jobs_and_resent_batches_produce_no_second_event(member_a, member_b, watched):
    record = mobile([watched])
    response = submit(member_b, [record])
    batch_id = response.json()["id"]
    from sharing.records.services import batch_process

    batch_process(batch_id=batch_id)
    batch_match(batch_id)  # a duplicate job
    Batch.objects.filter(pk=batch_id).update(status="processing")
    batch_process(batch_id=batch_id)  # the job again, as after a killed worker
    reported(member_b, [record])  # the same batch sent again
    assert types(member_a) == ["record.reported"]


def test_escalation_each_bucket_once_and_only_upwards(member_a, member_b, watched):
    record = mobile([watched], overdue_days=45)
    reported(member_b, [record])
    for days in (95, 100, 65, 200, 210):
        reported(member_b, [{**record, "overdue_days": days}])
    escalations = [e["data"] for e in events(member_a) if e["type"] == "delinquency.escalated"]
    assert escalations == [{"bucket": 90, "overdue_days": 95}, {"bucket": 180, "overdue_days": 200}]


def test_end_of_a_record_behind_an_event_is_told_with_how(member_a, member_b, watched):
    first, second = mobile([watched]), mobile([watched], event_date="2025-01-05")
    reported(member_b, [first, second])
    actor = Actor.credential(member_b.credential)
    record_resolve(actor=actor, record=Record.objects.get(reference=first["reference"]), resolved_date=dt.date.today())
    record_retract(actor=actor, record=Record.objects.get(reference=second["reference"]), reason="sent in error")
    ended = [e["data"]["how"] for e in events(member_a) if e["type"] == "record.ended"]
    assert ended == ["resolved", "retracted"]


def test_records_from_before_the_watch_are_not_news(member_a, member_b, key_v1):
    token = new_token()
    reported(member_b, [mobile([token])])
    put_watches(member_a, [watch("LOAN-9", [new_token(), token])])
    reported(member_b, [blacklist([new_token()])])  # another batch, other tokens
    assert events(member_a) == []


def test_expired_and_deleted_watches_produce_nothing(member_a, member_b, watched, key_v1):
    other = new_token()
    put_watches(member_a, [watch("LOAN-2", [new_token(), other])])
    Watch.objects.filter(reference="LOAN-2").update(expires_on=dt.date.today() - dt.timedelta(days=1))
    member_a.client().delete("/api/v1/watches/LOAN-1")
    reported(member_b, [mobile([watched]), mobile([other])])
    assert events(member_a) == []


def test_disputes_on_watched_records_are_told_opened_and_settled(member_a, member_b, watched):
    reported(member_b, [mobile([watched])])
    body = {"identifiers": [{"type": "cn_mobile", "token": watched}], "key_version": 1, "reason": "Not my loan."}
    filer = issue(InstitutionFactory())
    assert filer.client().post("/api/v1/disputes", body, format="json").status_code == 201
    dispute = Dispute.objects.get()
    dispute_settle(
        actor=Actor.operator(OperatorFactory()),
        dispute=dispute,
        outcome="corrected",
        note="The reporter withdrew it.",
        retract_reason="Dispute upheld.",
    )
    found = [(e["type"], e["data"]) for e in events(member_a)]
    assert found == [
        ("record.reported", found[0][1]),
        ("dispute.opened", {}),
        ("record.ended", {"kind": "delinquency", "category": "overdue", "how": "corrected"}),
        ("dispute.settled", {"outcome": "corrected"}),
    ]


def test_credit_inquiries_by_distinct_other_members_cross_levels_once(member_a, watched, key_v1):
    inquirers = [issue(InstitutionFactory()) for _ in range(5)]
    for inquirer in inquirers[:2]:
        lookup(inquirer, [watched], id_type="cn_mobile")
    lookup(member_a, [watched], id_type="cn_mobile")  # the watcher's own inquiry does not count
    lookup(member_a, [watched], id_type="cn_mobile", purpose="post_loan_monitoring")
    assert inquiry_events_produce() == 0
    lookup(inquirers[2], [watched], id_type="cn_mobile")
    lookup(inquirers[2], [watched], id_type="cn_mobile")
    assert inquiry_events_produce() == 1
    assert inquiry_events_produce() == 0  # the next run finds the same fact
    for inquirer in inquirers[3:]:
        lookup(inquirer, [watched], id_type="cn_mobile")
    inquiry_events_produce()
    assert [e["data"] for e in events(member_a)] == [{"members_30d": 3}, {"members_30d": 5}]


def test_feed_pages_ascending_from_the_last_id_and_stays_with_its_member(member_a, member_b, watched, key_v1):
    tokens = [new_token() for _ in range(4)]
    put_watches(member_a, [watch(f"LOAN-{i + 10}", [new_token(), t]) for i, t in enumerate(tokens)])
    put_watches(member_b, [watch("B-1", [new_token(), tokens[0]])])
    reported(member_b, [mobile([t]) for t in tokens])
    client = member_a.client()
    first = client.get("/api/v1/monitoring/events?page_size=3").json()
    assert len(first["results"]) == 3
    with CaptureQueriesContext(connection) as queries:
        rest = client.get(f"/api/v1/monitoring/events?after={first['last_id']}&page_size=3").json()
    assert len(queries) <= 3
    seen = [e["id"] for e in first["results"] + rest["results"]]
    assert seen == sorted(seen) and len(seen) == 4
    assert client.get(f"/api/v1/monitoring/events?after={seen[-1]}").json() == {"results": [], "last_id": seen[-1]}
    # Member B is never told of its own records, and never sees A's events.
    assert events(member_b) == []
    assert client.get("/api/v1/monitoring/events?page_size=1001").status_code == 400
    assert MonitoringEvent.objects.filter(member=member_a.institution).count() == 4


def test_monitoring_hears_records_and_disputes_through_their_signals():
    # Records and disputes never import monitoring: without these receivers no watch would hear of a change.
    from sharing.disputes.signals import dispute_changed
    from sharing.records.signals import summaries_recomputed

    def connected(signal) -> set[str]:
        return {key[0] for key, *_ in signal.receivers if isinstance(key[0], str)}

    assert "monitoring.watch_events_on_summaries" in connected(summaries_recomputed)
    assert "monitoring.watch_events_on_dispute" in connected(dispute_changed)
