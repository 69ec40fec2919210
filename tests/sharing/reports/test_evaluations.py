"""The token-evaluation section of the self-inspection report, from evaluations made through the API."""

from __future__ import annotations

import datetime as dt

from core.clock import business_today
from sharing.evaluations.models import TokenEvaluationCount, TokenEvaluationLimit
from sharing.reports.base import Period, ReportContext
from sharing.reports.evaluations import evaluations
from tests.sharing.evaluations.test_evaluate import MOBILES, _blind, _body, _evaluate


def around_today() -> Period:
    """Yesterday and today (Asia/Shanghai): today's UTC day is one of them at any hour."""
    today = business_today()
    return Period(today - dt.timedelta(days=1), today + dt.timedelta(days=1))


def test_section_counts_each_types_evaluations_and_refusals_of_the_member_only(key_v2, member_a, member_b):
    TokenEvaluationLimit.objects.create(member=member_a.institution, evaluations_per_day=4, updated_by="tests")
    assert _evaluate(member_a, _body(_blind(MOBILES))).status_code == 200
    assert _evaluate(member_a, _body(_blind(MOBILES))).status_code == 429  # 3 more would pass the limit of 4
    assert _evaluate(member_a, _body(_blind(["a@example.com"], "email"), id_type="email")).status_code == 200
    assert _evaluate(member_b, _body(_blind(MOBILES[:2]))).status_code == 200

    sections = evaluations(ReportContext(around_today(), [member_a.institution.pk, member_b.institution.pk]))
    mine, theirs = sections[member_a.institution.pk], sections[member_b.institution.pk]
    assert mine.rows == [["cn_mobile", 3, 3, 1], ["email", 1, 0, 0]]
    assert mine.summary == {"evaluated": 4, "refused": 3, "days_with_refusals": 1}
    assert theirs.rows == [["cn_mobile", 2, 0, 0]] and theirs.summary["refused"] == 0
    # The counts of days outside the period are not in it.
    TokenEvaluationCount.objects.filter(member_id=member_b.institution.pk).update(day=dt.date(2020, 1, 1))
    [(_member, moved)] = evaluations(ReportContext(around_today(), [member_b.institution.pk])).items()
    assert moved.rows == [] and moved.summary["evaluated"] == 0
