"""The report's relief section on a seeded month, checked against direct queries of the tables."""

from __future__ import annotations

import datetime as dt
import json
import statistics

import time_machine
from django.db import connection

from members.models import Institution
from sharing.reports.base import Period, ReportContext
from sharing.reports.relief import relief
from tests.conftest import issue
from tests.factories import InstitutionFactory
from tests.sharing.conftest import loan, new_token, overdue, reported
from tests.sharing.registers.test_policies import publish
from tests.sharing.reports.test_reports import csv_rows, generate, unzip

SEPTEMBER = Period(dt.date(2026, 9, 1), dt.date(2026, 10, 1))
AUGUST_20 = dt.datetime(2026, 8, 20, 4, 0, tzinfo=dt.UTC)
SEPTEMBER_10 = dt.datetime(2026, 9, 10, 4, 0, tzinfo=dt.UTC)
SEPTEMBER_20 = dt.datetime(2026, 9, 20, 4, 0, tzinfo=dt.UTC)


def delinquency(reference, event_date, overdue_days, **relief_fields):
    return overdue(reference=reference, event_date=event_date, overdue_days=overdue_days, **relief_fields)


def offered_directly(member_id: int) -> tuple[int, int]:
    """The cohort and those offered relief in time, counted another way: dates compared in Python."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT event_date, overdue_days, category, relief, relief_start FROM sharing_record "
            "WHERE member_id = %s AND kind = 'delinquency' AND status <> 'retracted' AND created_at < %s",
            [member_id, SEPTEMBER.end_at],
        )
        rows = cursor.fetchall()
    cohort = [
        (event, relief_kind, start)
        for event, days, category, relief_kind, start in rows
        if SEPTEMBER.start <= event + dt.timedelta(days=90) < SEPTEMBER.end
        and ((days or 0) >= 30 or category == "written_off")
    ]
    offered = [1 for event, relief_kind, start in cohort if relief_kind and start <= event + dt.timedelta(days=90)]
    return len(cohort), len(offered)


def test_the_relief_section_measures_offers_and_new_loans_on_a_seeded_month(member_a, member_b, key_v1):
    me = member_a.institution.pk
    peers = [issue(InstitutionFactory()) for _ in range(5)]
    on_extension, ended_deferral, plain, own_relief = (new_token() for _ in range(4))
    with time_machine.travel(AUGUST_20, tick=False):
        assert (
            publish(
                member_a,
                relief_policy={
                    "kinds": ["deferral", "restructuring"],
                    "offered_to": "逾期 30 天以上",
                    "how_to_ask": "客服热线",
                },
            ).status_code
            == 201
        )
        reported(
            member_a,
            [
                delinquency("D1", "2026-06-10", 70, relief="deferral", relief_start="2026-07-20"),
                delinquency("D2", "2026-06-15", 66, relief="restructuring", relief_start="2026-08-20"),
                delinquency("D3", "2026-06-20", 61),
                delinquency("D4", "2026-06-25", 20),  # never reached 30 days: not in the cohort
                delinquency(
                    "D5", "2026-05-01", 110, relief="deferral", relief_start="2026-06-01"
                ),  # an earlier month's
                delinquency("D6", "2026-06-12", 69),
                overdue(
                    [own_relief],
                    reference="D7",
                    event_date="2026-08-01",
                    overdue_days=19,
                    relief="deferral",
                    relief_start="2026-08-10",
                ),
            ],
        )
        # The peers' shares: 1, 0, 1/2, 1, 0.
        for peer, offers in zip(peers, [[True], [False], [True, False], [True], [False]], strict=True):
            reported(
                peer,
                [
                    delinquency(
                        f"P{n}",
                        "2026-06-20",
                        60,
                        **({"relief": "deferral", "relief_start": "2026-07-01"} if given else {}),
                    )
                    for n, given in enumerate(offers)
                ],
            )
        extension = loan([on_extension], reference="B-LINE", relief="extension", relief_start="2026-08-10")
        extension["new_maturity_date"] = "2027-08-10"
        reported(member_b, [extension])
        reported(
            member_b,
            [
                overdue(
                    [ended_deferral],
                    reference="B-DEBT",
                    relief="deferral",
                    relief_start="2026-08-01",
                    relief_end="2026-08-15",
                )
            ],
        )
    with time_machine.travel(SEPTEMBER_10, tick=False):
        reported(
            member_a,
            [
                loan([on_extension], reference="L1"),  # in another lender's extension since August 10
                loan([ended_deferral], reference="L2"),  # that lender's deferral ended on August 15
                loan([plain], reference="L3"),
                loan([own_relief], reference="L4"),  # the relief is the member's own
            ],
        )
    with time_machine.travel(SEPTEMBER_20, tick=False):
        # Offered, but after the borrower's 60 days (June 12 + 90 days = September 10).
        reported(member_a, [delinquency("D6", "2026-06-12", 99, relief="deferral", relief_start="2026-09-15")])

    section = relief(ReportContext(SEPTEMBER, [me]))[me]
    cohort, offered = offered_directly(me)
    assert (cohort, offered) == (4, 2)
    peer_shares = []
    for peer in peers:
        peer_cohort, peer_offered = offered_directly(peer.institution.pk)
        peer_shares.append(peer_offered / peer_cohort)
    assert sorted(peer_shares) == [0, 0, 0.5, 1, 1]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*), count(*) FILTER (WHERE EXISTS ("
            "  SELECT 1 FROM sharing_recordidentifier a JOIN sharing_recordidentifier b ON b.token = a.token "
            "  JOIN sharing_record o ON o.id = b.record_id WHERE a.record_id = n.id AND o.member_id <> n.member_id "
            "  AND o.relief <> '' AND o.relief_start <= %s AND coalesce(o.relief_end, 'infinity') >= %s)) "
            "FROM sharing_record n WHERE n.member_id = %s AND n.kind = 'loan' "
            "AND n.created_at >= %s AND n.created_at < %s",
            [SEPTEMBER_10.date(), SEPTEMBER_10.date(), me, SEPTEMBER.start_at, SEPTEMBER.end_at],
        )
        new_loans, under = cursor.fetchone()
    assert (new_loans, under) == (4, 1)
    assert section.summary == {
        "relief_policy_kinds": "deferral;restructuring",
        "delinquent_borrowers": cohort,
        "offered_relief": offered,
        "relief_offered_share": offered / cohort,
        "peers_median_relief_offered_share": statistics.median(peer_shares),
        "new_open_loans": new_loans,
        "new_loans_under_relief_elsewhere": under,
        "new_loans_under_relief_elsewhere_share": under / new_loans,
    }
    assert section.rows == [
        ["relief_offered_share", "deferral;restructuring", 4, 0.5, 0.5],
        ["new_loans_under_relief_elsewhere", "", 4, 0.25, None],
    ]

    # Fewer than five other members with a cohort: no median.
    Institution.objects.filter(pk=peers[0].institution.pk).update(status=Institution.Status.SUSPENDED)
    assert relief(ReportContext(SEPTEMBER, [me]))[me].summary["peers_median_relief_offered_share"] is None

    # The section is a file of the signed report, with a summary that names no other member.
    files = unzip(generate(member_a, SEPTEMBER))
    rows = csv_rows(files, "relief.csv")
    assert [row["measure"] for row in rows] == ["relief_offered_share", "new_loans_under_relief_elsewhere"]
    summary = json.loads(files["summary.json"])["sections"]["relief"]["summary"]
    assert summary["delinquent_borrowers"] == 4 and summary["new_loans_under_relief_elsewhere"] == 1
    text = files["relief.csv"].decode() + json.dumps(summary, ensure_ascii=False)
    for other in (member_b, *peers):
        assert other.institution.name not in text and other.institution.uscc not in text
