"""Watches hear of other members' relief arrangements, and a deferral's days are not an escalation."""

from __future__ import annotations

import datetime as dt

import orjson
import pytest
import time_machine

from members.audit import Actor
from sharing.models import Record
from sharing.records.services import record_resolve
from tests.sharing.conftest import loan, new_token, reported
from tests.sharing.monitoring.test_events import events, mobile, types
from tests.sharing.monitoring.test_watches import put_watches, watch


@pytest.fixture
def watched(member_a, key_v1):
    """A token member A watches, through its mobile number."""
    token = new_token()
    assert put_watches(member_a, [watch("LOAN-1", [new_token(), token])]).json()["accepted"] == 1
    return token


def mobile_loan(tokens, **overrides):
    record = loan(**overrides)
    record["identifiers"] = [{"type": "cn_mobile", "token": tokens[0]}]
    return record


def relief_events(member) -> list[tuple[str, dict]]:
    return [(e["type"], e["data"]) for e in events(member) if e["type"].startswith("relief.")]


def test_another_members_relief_is_told_started_and_ended_without_naming_it(member_a, member_b, watched):
    start = (dt.date.today() - dt.timedelta(days=3)).isoformat()
    line = mobile_loan(
        [watched], reference="B-LINE", maturity_date="2026-06-09", relief="extension", relief_start=start
    )
    line["new_maturity_date"] = "2027-12-31"
    reported(member_b, [line])
    assert relief_events(member_a) == [
        (
            "relief.started",
            {"kind": "loan", "relief": "extension", "start": start, "new_maturity_date": "2027-12-31"},
        )
    ]
    # Re-sent unchanged, or with a new balance: the same arrangement, told once.
    reported(member_b, [line, {**line, "outstanding_balance": "19000.00"}][1:])
    assert len(relief_events(member_a)) == 1
    today = dt.date.today().isoformat()
    reported(member_b, [{**line, "outstanding_balance": "19000.00", "relief_end": today}])
    assert relief_events(member_a)[1] == (
        "relief.ended",
        {"kind": "loan", "relief": "extension", "start": start, "how": "ended", "end": today},
    )
    # A deferral on a delinquency ends when the record is resolved.
    debt = mobile([watched], reference="B-DEBT", relief="deferral", relief_start=start)
    reported(member_b, [debt])
    record_resolve(
        actor=Actor.credential(member_b.credential),
        record=Record.objects.get(reference="B-DEBT"),
        resolved_date=dt.date.today(),
    )
    assert relief_events(member_a)[2:] == [
        ("relief.started", {"kind": "delinquency", "relief": "deferral", "start": start}),
        ("relief.ended", {"kind": "delinquency", "relief": "deferral", "start": start, "how": "closed", "end": today}),
    ]
    # The new record's own event says it came under relief.
    reported_events = [e["data"] for e in events(member_a) if e["type"] == "record.reported"]
    assert reported_events == [{"kind": "delinquency", "category": "overdue", "overdue_days": 45, "relief": "deferral"}]
    text = orjson.dumps(events(member_a)).decode()
    assert member_b.institution.name not in text and member_b.institution.uscc not in text
    assert events(member_b) == []  # the reporter watches nothing


def test_a_members_own_relief_is_not_news_to_it(member_a, watched):
    start = (dt.date.today() - dt.timedelta(days=3)).isoformat()
    reported(member_a, [mobile([watched], relief="deferral", relief_start=start)])
    assert types(member_a) == []


def test_relief_agreed_long_before_the_watch_is_not_news(member_a, member_b, key_v1):
    token = new_token()
    record = mobile([token], relief="restructuring", relief_start="2025-07-01")
    reported(member_b, [record])
    put_watches(member_a, [watch("LOAN-7", [new_token(), token])])
    # Changed after the watch began, but the arrangement is older than the reporting cadence.
    reported(member_b, [{**record, "overdue_days": 50}])
    assert relief_events(member_a) == []


# A frozen clock: the days a delinquency accumulates under an agreed deferral do not escalate it.
DAY_0 = dt.datetime(2026, 3, 1, 10, 0, tzinfo=dt.UTC)


def test_days_overdue_under_a_deferral_do_not_escalate(member_a, member_b, key_v1):
    token = new_token()
    with time_machine.travel(DAY_0, tick=False):
        assert put_watches(member_a, [watch("LOAN-1", [new_token(), token])]).json()["accepted"] == 1
        deferred = mobile([token], reference="DEFERRED", event_date="2026-01-20", overdue_days=40)
        plain = mobile([token], reference="PLAIN", event_date="2026-01-20", overdue_days=40)
        reported(member_b, [deferred, plain])
        reported(member_b, [{**deferred, "relief": "deferral", "relief_start": "2026-03-01"}])
    with time_machine.travel(DAY_0 + dt.timedelta(days=30), tick=False):
        # Thirty more days overdue on both: the plain one crosses 60, the deferred one stays at 40 counted.
        reported(
            member_b,
            [
                {**deferred, "overdue_days": 70, "relief": "deferral", "relief_start": "2026-03-01"},
                {**plain, "overdue_days": 70},
            ],
        )
    escalated = [e for e in events(member_a) if e["type"] == "delinquency.escalated"]
    assert [e["data"] for e in escalated] == [{"bucket": 60, "overdue_days": 70}]
    assert Record.objects.get(reference="PLAIN").pk == _record_of(member_a, escalated[0])
    with time_machine.travel(DAY_0 + dt.timedelta(days=55), tick=False):
        # The deferral ended on day 30; the 25 days since count again: 95 overdue, 30 of them deferred.
        reported(
            member_b,
            [
                {
                    **deferred,
                    "overdue_days": 95,
                    "relief": "deferral",
                    "relief_start": "2026-03-01",
                    "relief_end": "2026-03-31",
                }
            ],
        )
    escalated = [e["data"] for e in events(member_a) if e["type"] == "delinquency.escalated"]
    assert escalated[1:] == [{"bucket": 60, "overdue_days": 95, "deferred_days": 30}]


def _record_of(member, event) -> int:
    from sharing.models import MonitoringEvent

    return MonitoringEvent.objects.get(pk=event["id"]).record_id
