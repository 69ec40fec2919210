"""The disputes and retention sections of the self-inspection report, and the dispute-corrected peer measure."""

from __future__ import annotations

import datetime as dt
import json
import statistics

import time_machine
from django.utils import timezone

from members.audit import Actor
from members.models import AuditEvent
from sharing.disputes.services import dispute_settle
from sharing.models import Dispute, DisputedRecord, Record
from sharing.retention.services import records_purge
from tests.conftest import issue
from tests.factories import InstitutionFactory, OperatorFactory
from tests.sharing.conftest import blacklist, new_token, reported
from tests.sharing.disputes.test_disputes import file
from tests.sharing.reports.test_reports import csv_rows, generate, today_period, unzip


def settle(dispute_id: int, outcome: str, **extra) -> None:
    actor = Actor.operator(OperatorFactory())
    dispute_settle(actor=actor, dispute=Dispute.objects.get(pk=dispute_id), outcome=outcome, note="Decided.", **extra)


def test_disputes_section_equals_the_disputes_against_the_members_records(member_a, member_b, key_v1):
    tokens = [new_token() for _ in range(4)]
    reported(member_b, [blacklist([token]) for token in tokens])
    now = timezone.now()
    with time_machine.travel(now - dt.timedelta(days=25), tick=False):
        stale = file(member_a, [tokens[0]]).json()["id"]  # still open, 25 days on: past the limit
    corrected = file(member_a, [tokens[1]]).json()["id"]
    confirmed = file(member_a, [tokens[2]]).json()["id"]
    still_open = file(member_a, [tokens[3]]).json()["id"]
    settle(corrected, "corrected", retract_reason="Wrong person.")
    settle(confirmed, "confirmed")
    period = today_period()

    files = unzip(generate(member_b, period))

    summary = json.loads(files["summary.json"])["sections"]["disputes"]["summary"]
    against_b = Dispute.objects.filter(
        pk__in=DisputedRecord.objects.filter(reporting_member_id=member_b.institution.pk).values("dispute_id")
    )
    settled = against_b.filter(settled_at__gte=period.start_at, settled_at__lt=period.end_at)
    days = [(timezone.localtime(d.settled_at).date() - timezone.localtime(d.received_at).date()).days for d in settled]
    assert summary == {
        "received": against_b.filter(received_at__gte=period.start_at).count(),
        "settled": settled.count(),
        "corrected": settled.filter(status="corrected").count(),
        "confirmed": settled.filter(status="confirmed").count(),
        "unverifiable": settled.filter(status="unverifiable").count(),
        "median_days_to_settle": statistics.median(days),
        "settled_past_limit": 0,
        "open_past_limit_at_period_end": 1,
        "corrected_rate": 0.5,
    }
    assert summary["received"] == 3 and summary["settled"] == 2
    rows = {int(row["dispute"]): row for row in csv_rows(files, "disputes.csv")}
    assert set(rows) == {stale, corrected, confirmed, still_open}
    assert rows[stale]["past_limit"] == "true" and rows[stale]["status"] == "open"
    assert rows[corrected]["past_limit"] == "false"
    assert rows[corrected]["status"] == "corrected" and rows[corrected]["days_to_settle"] == "0"
    # The filer is never named in the reporting member's report.
    assert member_a.institution.name.encode() not in b"".join(files.values())
    # The filer's own report has no disputes against it.
    own = json.loads(unzip(generate(member_a, period))["summary.json"])["sections"]["disputes"]["summary"]
    assert own["received"] == 0 and own["settled"] == 0


def test_retention_section_counts_purges_and_what_is_still_past_retention(member_a, member_b, key_v1):
    old = (timezone.localdate() - dt.timedelta(days=6 * 366)).isoformat()
    reported(member_b, [blacklist(reference="OLD-1", event_date=old), blacklist(reference="OLD-2", event_date=old)])
    reported(member_a, [blacklist(reference="A-OLD", event_date=old)])
    records_purge()
    assert not Record.objects.filter(reference__startswith="OLD").exists()
    reported(member_b, [blacklist(reference="LATE", event_date=old)])  # arrived after today's purge
    period = today_period()

    files = unzip(generate(member_b, period))

    summary = json.loads(files["summary.json"])["sections"]["retention"]["summary"]
    tombstones = AuditEvent.objects.filter(action="retention.records_purged", occurred_at__gte=period.start_at)
    purged = sum(event.payload["by_member"].get(str(member_b.institution.pk), 0) for event in tombstones)
    assert summary == {"records_purged": purged, "past_retention_still_present": 1}
    assert purged == 2
    assert [int(row["records_purged"]) for row in csv_rows(files, "retention.csv")] == [2]


def test_dispute_corrected_rate_is_a_peer_measure(member_a, member_b, key_v1):
    reporters = [member_b, *(issue(InstitutionFactory()) for _ in range(4))]
    for index, reporter in enumerate(reporters):
        tokens = [new_token() for _ in range(2)]
        reported(reporter, [blacklist([token]) for token in tokens])
        for number, token in enumerate(tokens):
            dispute_id = file(member_a, [token]).json()["id"]
            outcome = "corrected" if number < index % 3 else "confirmed"
            settle(dispute_id, outcome, **({"retract_reason": "Wrong."} if outcome == "corrected" else {}))

    peers = {row["measure"]: row for row in csv_rows(unzip(generate(member_b)), "peers.csv")}

    # Rates: B 0, then 0.5, 1, 0, 0.5: B shares the best (lowest) value with one other member.
    assert peers["dispute_corrected_rate"]["your_value"] == "0.0"
    assert peers["dispute_corrected_rate"]["percentile"] == "20.0"
    assert peers["dispute_corrected_rate"]["better"] == "lower"
