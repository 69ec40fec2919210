"""The self-inspection report counts consent references used for more subjects than one consent covers."""

from __future__ import annotations

import datetime as dt

import orjson
import time_machine

from core.clock import business_day_start
from sharing.reports.base import Period
from sharing.reports.services import report_generate
from tests.sharing.conftest import lookup, new_token
from tests.sharing.reports.test_reports import SYSTEM, unzip

MONTH = Period(dt.date(2026, 10, 1), dt.date(2026, 11, 1))


def applicant() -> list[str]:
    return [new_token(), new_token()]  # an ID number and a mobile, say


def reused_references(member) -> int:
    report = report_generate(member=member.institution, period_start=MONTH.start, period_end=MONTH.end, actor=SYSTEM)
    return orjson.loads(unzip(report)["summary.json"])["sections"]["lookups"]["summary"]["consent_references_reused"]


def test_references_reused_across_subjects_in_the_month_are_counted(member_a, member_b, key_v1, settings):
    settings.RISKSHARE_CONSENT_REUSE_SUBJECTS = 3
    with time_machine.travel(business_day_start(dt.date(2026, 10, 12)) + dt.timedelta(hours=3), tick=False):
        for _ in range(4):  # one consent, four applicants: suspicious
            assert lookup(member_a, applicant(), consent="APP-SHARED").status_code == 200
        same = applicant()
        for _ in range(5):  # one applicant checked five times: one subject
            assert lookup(member_a, same, consent="APP-RECHECKED").status_code == 200
        # One lookup of 40 identifiers under one consent covers at least 5 subjects: suspicious.
        assert lookup(member_a, [new_token() for _ in range(40)], consent="APP-BULK").status_code == 200
        for _ in range(3):  # three applicants: at the limit, not over it
            assert lookup(member_a, applicant(), consent="APP-THREE").status_code == 200
        for _ in range(2):  # another member's use of the same reference is its own
            assert lookup(member_b, applicant(), consent="APP-SHARED").status_code == 200
    with time_machine.travel(business_day_start(dt.date(2026, 11, 3)), tick=False):
        for _ in range(4):  # next month's lookups are not this month's
            assert lookup(member_a, applicant(), consent="APP-RECHECKED").status_code == 200

    assert reused_references(member_a) == 2
    assert reused_references(member_b) == 0
    settings.RISKSHARE_CONSENT_REUSE_SUBJECTS = 1
    assert reused_references(member_b) == 1
