"""Exposure (共债): open loans reported as records of kind loan, summed per token by matching."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import orjson
import pytest
from django.utils import timezone

from sharing.models import Record, TokenSummary
from sharing.records.matching import summaries_drift_check
from sharing.tokens.pepper import pepper_token
from tests.conftest import issue
from tests.factories import InstitutionFactory
from tests.sharing.conftest import blacklist, days_ago, loan, lookup, new_token, overdue, reported, submit

TODAY = dt.date.today()


def summary(token: str) -> TokenSummary | None:
    return TokenSummary.objects.filter(token=pepper_token(token)).first()


# --- the record kind ---------------------------------------------------------------------------


def test_a_loan_is_stored_with_decimal_money(member_a, key_v1):
    body = submit(member_a, [loan(reference="L1", maturity_date="2027-06-09")]).json()
    assert (body["accepted"], body["errors"]) == (1, [])
    record = Record.objects.get(reference="L1")
    assert (record.kind, record.category, record.status) == ("loan", "open", "active")
    assert record.credit_limit == Decimal("50000.00") and isinstance(record.credit_limit, Decimal)
    assert record.outstanding_balance == Decimal("20000.00")
    assert (record.currency, record.product) == ("CNY", "credit_line")
    assert record.maturity_date == dt.date(2027, 6, 9)
    assert record.overdue_days is None and record.overdue_amount is None


def test_a_closed_loan_is_resolved(member_a, key_v1):
    submit(member_a, [loan(reference="L1", resolved_date=days_ago(1))])
    assert Record.objects.get(reference="L1").status == "resolved"


@pytest.mark.parametrize(
    ("record", "field", "code"),
    [
        (loan(overdue_days=3), "/overdue_days", "not_allowed"),
        (loan(overdue_amount="1.00"), "/overdue_amount", "not_allowed"),
        (overdue(credit_limit="1.00"), "/credit_limit", "not_allowed"),
        (overdue(outstanding_balance="1.00"), "/outstanding_balance", "not_allowed"),
        (blacklist(maturity_date="2030-01-01"), "/maturity_date", "not_allowed"),
        (loan(category="overdue"), "/overdue_days", "required"),
        (loan(kind="delinquency"), "/category", "invalid_choice"),
        (loan(credit_limit="-1"), "/credit_limit", "bad_decimal"),
        (loan(credit_limit="1.005"), "/credit_limit", "bad_decimal"),
        (loan(credit_limit=100), "/credit_limit", "invalid_type"),
        (loan(outstanding_balance="1e5"), "/outstanding_balance", "bad_decimal"),
        (loan(currency="USD"), "/currency", "invalid_choice"),
        (loan(product="payday"), "/product", "invalid_choice"),
        ({k: v for k, v in loan().items() if k != "credit_limit"}, "/credit_limit", "required"),
        ({k: v for k, v in loan().items() if k != "outstanding_balance"}, "/outstanding_balance", "required"),
        ({k: v for k, v in loan().items() if k != "product"}, "/product", "required"),
        (loan(event_date=(TODAY + dt.timedelta(days=1)).isoformat()), "/event_date", "future_date"),
        (loan(maturity_date="2025-06-09"), "/maturity_date", "maturity_order"),
        (loan(maturity_date="1980-01-01"), "/maturity_date", "bad_date"),
        (loan(maturity_date="2025-13-01"), "/maturity_date", "bad_date"),
        (loan(resolved_date="2025-06-01"), "/resolved_date", "date_order"),
    ],
)
def test_each_loan_rule_has_a_stable_code(member_a, key_v1, record, field, code):
    body = submit(member_a, [record, blacklist()]).json()
    assert body["rejected"] == 1 and body["accepted"] == 1  # the valid one is still stored
    assert (field, code) in [(e["field"], e["code"]) for e in body["errors"]], body["errors"]
    assert not Record.objects.filter(kind="loan").exists()


def test_a_maturity_in_the_future_and_a_balance_over_the_limit_are_fine(member_a, key_v1):
    future = (TODAY + dt.timedelta(days=700)).isoformat()
    body = submit(member_a, [loan(maturity_date=future, credit_limit="100.00", outstanding_balance="130.55")]).json()
    assert body["errors"] == []


def test_a_re_sent_reference_replaces_the_loan(member_a, key_v1):
    token = new_token()
    reported(member_a, [loan([token], reference="L1")])
    first = Record.objects.get(reference="L1")
    reported(member_a, [loan([token], reference="L1", outstanding_balance="15000.00")])
    record = Record.objects.get(reference="L1")
    assert Record.objects.filter(kind="loan").count() == 1
    assert record.outstanding_balance == Decimal("15000.00")
    assert record.reported_at > first.reported_at
    s = summary(token)
    assert (s.open_loans, s.total_outstanding) == (1, Decimal("15000.00"))


def test_an_unchanged_re_send_is_a_report(member_a, key_v1):
    """The monthly re-send with the same balance refreshes the report date (staleness), not the facts."""
    token = new_token()
    reported(member_a, [loan([token], reference="L1")])
    first = Record.objects.get(reference="L1")
    reported(member_a, [loan([token], reference="L1")])
    record = Record.objects.get(reference="L1")
    assert record.reported_at > first.reported_at
    assert record.updated_at == first.updated_at
    assert record.batch_id != first.batch_id
    assert summary(token).loan_reported == [record.reported_at]


# --- the summary -------------------------------------------------------------------------------


def test_exposure_sums_open_loans_across_lenders(member_a, member_b, key_v1):
    token, mobile = new_token(), new_token()
    member_c = issue(InstitutionFactory())
    reported(
        member_a,
        [
            loan([token, mobile], reference="A1", credit_limit="50000.00", outstanding_balance="20000.00"),
            loan([token], reference="A2", credit_limit="30000", outstanding_balance="28000.5", event_date="2025-09-01"),
            # the same facts under another reference: another facility, not a duplicate
            loan([token], reference="A3", credit_limit="30000", outstanding_balance="28000.5", event_date="2025-09-01"),
        ],
    )
    reported(member_b, [loan([token], reference="B1", credit_limit="40000", outstanding_balance="0")])
    reported(member_c, [loan([token], reference="C1", resolved_date=days_ago(1)), overdue([token])])
    s = summary(token)
    assert (s.loan_lenders, s.open_loans) == (2, 4)
    assert s.total_credit_limit == Decimal("150000.00")
    assert s.total_outstanding == Decimal("76001.00")
    assert s.latest_loan_opened == dt.date(2025, 9, 1)
    a, b = member_a.institution.pk, member_b.institution.pk
    assert s.loan_member_ids == [a, a, a, b]
    assert s.loan_outstanding == [Decimal("20000.00"), Decimal("28000.50"), Decimal("28000.50"), Decimal("0.00")]
    # Loans are not adverse: only C's delinquency makes a reporting member.
    assert s.member_ids == [member_c.institution.pk]
    assert s.active_delinquencies == 1
    assert (summary(mobile).open_loans, summary(mobile).member_ids) == (1, [])
    assert summaries_drift_check(fix=False).drift == 0


def test_closing_a_loan_takes_it_out(member_a, key_v1):
    token = new_token()
    reported(member_a, [loan([token], reference="L1")])
    response = member_a.client().post("/api/v1/records/L1/resolve", {"resolved_date": days_ago(0)}, format="json")
    assert response.status_code == 200
    assert summary(token) is None
    reported(member_a, [loan([token], reference="L2"), loan([token], reference="L3", resolved_date=days_ago(0))])
    assert summary(token).open_loans == 1


def test_exposure_drift_is_detected(member_a, key_v1):
    token = new_token()
    reported(member_a, [loan([token])])
    TokenSummary.objects.filter(token=pepper_token(token)).update(total_outstanding=1)
    assert summaries_drift_check(fix=True).stale == 1
    assert summary(token).total_outstanding == Decimal("20000.00")
    TokenSummary.objects.filter(token=pepper_token(token)).update(loan_reported=[])
    assert summaries_drift_check(fix=False).stale == 1


def test_changing_a_loans_identifiers_moves_its_exposure(member_a, key_v1):
    old, new, kept = new_token(), new_token(), new_token()
    reported(member_a, [loan([old, kept], reference="L1")])
    reported(member_a, [loan([new, kept], reference="L1", outstanding_balance="1.00")])
    from sharing.records.matching import dirty_tokens_drain

    dirty_tokens_drain()
    assert summary(old) is None
    assert summary(new).total_outstanding == summary(kept).total_outstanding == Decimal("1.00")
    assert summaries_drift_check(fix=False).drift == 0


# --- the lookup answer -------------------------------------------------------------------------


def test_the_answer_counts_lenders_and_totals_with_yours(member_a, member_b, key_v1):
    token, loans_only, nothing = new_token(), new_token(), new_token()
    member_c = issue(InstitutionFactory())
    reported(member_a, [loan([token], reference="A1", credit_limit="50000", outstanding_balance="20000")])
    reported(
        member_b,
        [
            loan([token], reference="B1", credit_limit="40000", outstanding_balance="38000", event_date="2026-01-05"),
            loan([token], reference="B2", credit_limit="30000", outstanding_balance="25000"),
            loan([loans_only], reference="B3"),
        ],
    )
    reported(member_c, [loan([token], reference="C1", credit_limit="30000", outstanding_balance="15000")])
    reported(member_c, [overdue([token])])
    response = lookup(member_a, [token, loans_only, nothing])
    assert response.status_code == 200, response.content
    both, only, miss = response.json()["results"]
    assert both["exposure"] == {
        "lenders": 3,
        "open_loans": 4,
        "total_credit_limit": "150000.00",
        "total_outstanding": "98000.00",
        "latest_opened": "2026-01-05",
        "stale_loans": 0,
        "yours": {"open_loans": 1, "total_outstanding": "20000.00"},
        "relief": {"lenders": 0, "since": None, "kinds": [], "yours": False},
    }
    assert both["hit"] is True and both["reporting_members"] == 1  # C's delinquency; loans are not reports
    # Open loans alone are exposure, not a hit: the lookup log counts no hit for them.
    assert only["hit"] is False and only["reporting_members"] == 0
    assert only["exposure"]["open_loans"] == 1
    assert only["exposure"]["yours"] == {"open_loans": 0, "total_outstanding": "0.00"}
    assert miss["exposure"] is None
    # Two loans of the asker's own: both in "yours".
    theirs = lookup(member_b, [token]).json()["results"][0]["exposure"]
    assert theirs["yours"] == {"open_loans": 2, "total_outstanding": "63000.00"}
    from sharing.models import Lookup, LookupEntry

    lookup_row = Lookup.objects.filter(member_id=member_a.institution.pk).get()
    assert lookup_row.hits == 1
    entries = LookupEntry.objects.filter(lookup=lookup_row).order_by("position")
    assert list(entries.values_list("hit", flat=True)) == [True, False, False]
    # The stored answer is the same answer.
    detail = member_a.client().get(f"/api/v1/lookups/{lookup_row.pk}").json()
    assert detail["results"] == response.json()["results"]
    # Never a lender's name or id.
    text = response.content.decode()
    for member in (member_a, member_b, member_c):
        assert member.institution.name not in text and member.institution.uscc not in text


def test_stale_loans_are_counted_as_of_the_lookup(member_a, member_b, key_v1, settings):
    token = new_token()
    reported(member_b, [loan([token], reference="B1"), loan([token], reference="B2")])
    old = timezone.now() - dt.timedelta(days=46)
    Record.objects.filter(reference="B1").update(reported_at=old)
    from sharing.records.matching import summaries_refresh

    summaries_refresh([pepper_token(token)])
    assert lookup(member_a, [token]).json()["results"][0]["exposure"]["stale_loans"] == 1
    settings.RISKSHARE_EXPOSURE_STALE_DAYS = 60
    assert lookup(member_a, [token]).json()["results"][0]["exposure"]["stale_loans"] == 0
    # The re-send is the monthly report: no longer stale.
    settings.RISKSHARE_EXPOSURE_STALE_DAYS = 45
    reported(member_b, [loan([token], reference="B1")])
    assert lookup(member_a, [token]).json()["results"][0]["exposure"]["stale_loans"] == 0


# --- monitoring events -------------------------------------------------------------------------


def _monitoring_events(member) -> list[dict]:
    return member.client().get("/api/v1/monitoring/events?page_size=1000").json()["results"]


@pytest.fixture
def watched(member_a, key_v1):
    """A token member A watches (LOAN-1) through its resident id; its mobile is watched too."""
    from tests.sharing.monitoring.test_watches import put_watches, watch

    token, mobile = new_token(), new_token()
    assert put_watches(member_a, [watch("LOAN-1", [token, mobile])]).json()["accepted"] == 1
    return token, mobile


def test_another_lenders_new_loan_is_told_once(member_a, member_b, watched):
    token, mobile = watched
    opened = days_ago(2)
    reported(
        member_b,
        [loan([token, mobile], reference="B1", credit_limit="8000", outstanding_balance="500", event_date=opened)],
    )
    reported(member_a, [loan([token], reference="OWN")])  # its own loans: never an event
    (event,) = _monitoring_events(member_a)
    assert event["type"] == "loan.opened" and event["watch"] == "LOAN-1"
    assert event["data"] == {"credit_limit": "8000.00", "product": "credit_line"}
    assert event["identifier_type"] in {"cn_mobile", "cn_resident_id"}  # one event, whichever chunk first
    # The monthly re-sends are the same loan: no new event, and no record.reported for a loan.
    reported(
        member_b,
        [loan([token, mobile], reference="B1", credit_limit="8000", outstanding_balance="700", event_date=opened)],
    )
    assert [e["type"] for e in _monitoring_events(member_a)] == ["loan.opened"]
    text = orjson.dumps(_monitoring_events(member_a)).decode()
    assert member_b.institution.name not in text and member_b.institution.uscc not in text


def test_a_loan_opened_long_before_the_watch_is_no_opening(member_a, member_b, watched):
    token, _mobile = watched
    reported(member_b, [loan([token], reference="OLD", event_date="2024-01-01", outstanding_balance="100")])
    assert _monitoring_events(member_a) == []


def test_exposure_increased_by_a_fifth_and_ten_thousand(member_a, member_b, key_v1):
    from tests.sharing.monitoring.test_watches import put_watches, watch

    token, mobile = new_token(), new_token()
    member_c = issue(InstitutionFactory())
    # Before the watch: 50,000 outstanding elsewhere, what member A saw when it lent.
    reported(member_b, [loan([token], reference="B1", outstanding_balance="50000")])
    assert put_watches(member_a, [watch("LOAN-1", [token, mobile])]).json()["accepted"] == 1

    def increased():
        return [e["data"] for e in _monitoring_events(member_a) if e["type"] == "exposure.increased"]

    # Another lender, on the mobile: 59,000 is +18 %, not yet; 61,000 is +22 % and +11,000.
    c1 = {"reference": "C1", "event_date": days_ago(3)}
    reported(member_c, [loan([mobile], outstanding_balance="9000", **c1)])
    assert increased() == []
    reported(member_c, [loan([mobile], outstanding_balance="11000", **c1)])
    assert increased() == [{"total_outstanding": "61000.00", "previous": "50000.00", "open_loans": 2, "lenders": 2}]
    assert [e["type"] for e in _monitoring_events(member_a)].count("loan.opened") == 1
    # Since the last such event: 61,000 → 68,000 is +11 %; → 73,200 is +20 % and +12,200.
    reported(member_b, [loan([token], reference="B1", outstanding_balance="57000")])
    assert len(increased()) == 1
    reported(member_b, [loan([token], reference="B1", outstanding_balance="62200")])
    assert increased()[-1]["total_outstanding"] == "73200.00" and len(increased()) == 2
    # A loan on both watched identifiers counts once.
    reported(member_c, [loan([mobile, token], outstanding_balance="11000", **c1)])
    assert len(increased()) == 2
    # Its own loans never count.
    reported(member_a, [loan([token], reference="OWN", outstanding_balance="90000")])
    assert len(increased()) == 2


def test_exposure_events_are_told_once_when_matching_runs_again(member_a, member_b, watched):
    from sharing.models import Batch, MonitoringEvent
    from sharing.records.matching import batch_match

    token, _mobile = watched
    reported(member_b, [loan([token], reference="B1", outstanding_balance="30000", event_date=days_ago(1))])
    assert sorted(MonitoringEvent.objects.values_list("type", flat=True)) == ["exposure.increased", "loan.opened"]
    for batch_id in Batch.objects.values_list("pk", flat=True):
        batch_match(batch_id)
    assert MonitoringEvent.objects.count() == 2
    # The fact names the total: the constraint, not a check, keeps a second one out.
    from django.db import IntegrityError, transaction

    event = MonitoringEvent.objects.get(type="exposure.increased")
    assert event.fact == "exposure:30000.00"
    with pytest.raises(IntegrityError), transaction.atomic():
        MonitoringEvent.objects.create(
            member_id=event.member_id,
            watch_id=event.watch_id,
            watch_reference="LOAN-1",
            type=event.type,
            identifier_type="cn_resident_id",
            fact=event.fact,
        )


# --- retention, disputes -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("today", "purged"),
    [(dt.date(2026, 3, 9), False), (dt.date(2026, 3, 10), True)],
    ids=["day-before", "day-of"],
)
def test_a_closed_loan_is_purged_five_years_after_it_closed(member_a, key_v1, today, purged):
    from members.models import AuditEvent
    from tests.sharing.retention.test_retention import at, purge_on, references

    with at(dt.date(2021, 4, 1)):
        reported(member_a, [loan(reference="CLOSED", event_date="2019-01-15", resolved_date="2021-03-10")])
        reported(member_a, [loan(reference="OPEN", event_date="2010-01-15")])  # open: never purged
    purge_on(today)
    assert references() == ({"OPEN"} if purged else {"CLOSED", "OPEN"})
    if purged:
        tombstone = AuditEvent.objects.filter(action="retention.records_purged").get()
        assert tombstone.payload["loans_closed"] == 1 and tombstone.payload["adverse_ended"] == 0
        assert tombstone.payload["loans_closed_on_or_before"] == "2021-03-10"


def test_the_loan_retention_is_a_setting(member_a, key_v1, settings):
    from tests.sharing.retention.test_retention import at, purge_on, references

    settings.RISKSHARE_LOAN_RETENTION_YEARS = 2
    with at(dt.date(2021, 4, 1)):
        reported(member_a, [loan(reference="CLOSED", event_date="2019-01-15", resolved_date="2021-03-10")])
    purge_on(dt.date(2023, 3, 10))
    assert references() == set()


def test_a_dispute_marks_a_loan_and_the_answer_says_so(member_a, member_b, key_v1):
    token = new_token()
    reported(member_b, [loan([token], reference="B1")])
    response = member_a.client().post(
        "/api/v1/disputes",
        {
            "identifiers": [{"type": "cn_resident_id", "token": token}],
            "key_version": 1,
            "reason": "本人未申请该笔贷款。",
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    assert Record.objects.get(reference="B1").status == "disputed"
    result = lookup(member_a, [token]).json()["results"][0]
    assert result["disputed"] is True and result["exposure"]["open_loans"] == 1  # still counted, flagged


# --- the self-inspection report ----------------------------------------------------------------


def test_the_report_counts_open_loans_their_timeliness_and_the_peer_place(member_a, member_b, key_v1):
    from sharing.reports.base import ReportContext
    from sharing.reports.exposure import exposure
    from sharing.reports.peers import peers
    from tests.sharing.reports.test_reports import today_period

    reported(
        member_a,
        [
            loan(reference="FRESH"),
            loan(reference="OLD"),
            loan(reference="BNPL", product="bnpl"),
            loan(reference="CLOSED", resolved_date="2025-07-01"),  # closed before the period: not counted
        ],
    )
    reported(member_b, [loan(reference="B1")])
    # OLD's latest report, and its every version, is 60 days before the period's end.
    stale = timezone.now() - dt.timedelta(days=60)
    Record.objects.filter(reference__in=["OLD", "B1"]).update(reported_at=stale, created_at=stale)
    period = today_period()
    sections = exposure(ReportContext(period, [member_a.institution.pk, member_b.institution.pk]))
    mine, theirs = sections[member_a.institution.pk], sections[member_b.institution.pk]
    assert mine.rows == [["bnpl", 1, 1, 0, 1.0], ["credit_line", 2, 1, 1, 0.5]]
    assert mine.summary == {"open_loans": 3, "rereported_in_time": 2, "stale_loans": 1, "timeliness": round(2 / 3, 6)}
    assert theirs.summary["timeliness"] == 0.0
    # The peer measure: a value of its own, no percentile under five members with loans.
    (row,) = [
        r
        for r in peers(ReportContext(period, [member_a.institution.pk]))[member_a.institution.pk].rows
        if r[0] == "loan_timeliness"
    ]
    assert row == ["loan_timeliness", "higher", round(2 / 3, 6), None]
    for n in range(3):
        reported(issue(InstitutionFactory()), [loan(reference=f"P{n}")])
    (row,) = [
        r
        for r in peers(ReportContext(period, [member_a.institution.pk]))[member_a.institution.pk].rows
        if r[0] == "loan_timeliness"
    ]
    # Values 2/3 (A), 0 (B), 1, 1, 1: A is second lowest of five.
    assert row[3] == 30.0
