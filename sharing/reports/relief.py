"""The relief section of a self-inspection report: whether the member offers relief to borrowers who struggle
(主动提供债务重组或展期服务), measured from its own records, beside its card's relief policy.

- ``relief_offered_share``: of its borrowers who reached 30 days overdue (one per delinquency record, not
  retracted, reported at 30 days or more or written off), those whose 60 days to be offered relief ended in
  the period (``event_date`` + 30 + 60 days falls in it, so that every one had its full 60 days by the
  period's end), the share that the member reported relief for starting within those 60 days
  (``relief_start`` ≤ ``event_date`` + 90 days). Beside it, the median of the same share among the other
  active members that have borrowers in that cohort, shown only when at least ``MIN_PEERS`` have one;
- ``new_loans_under_relief_elsewhere``: of its new open loans (first reported in the period), the share whose
  borrower was, on the day the loan was first reported, in a relief arrangement reported by another member
  (on a loan or a delinquency: begun by then, not ended or resolved before).
"""

from __future__ import annotations

import datetime as dt
import statistics

from django.utils.translation import gettext_lazy as _

from members.models import Institution
from sharing.reports.base import Column, Period, ReportContext, Section, SectionData, empty_sections, ratio
from sharing.reports.peers import MIN_PEERS
from sharing.reports.policies import cards_at

OVERDUE_DAYS = 30
OFFER_WITHIN_DAYS = 60

# Each member's cohort and how many were offered relief in time. A record's created_at is on or after its
# event_date, so the cohort lies within the created_at range given: the partial index
# record_delinquency_created_idx finds it.
_OFFERED_SQL = """
    SELECT member_id, count(*),
           count(*) FILTER (WHERE relief <> '' AND relief_start <= event_date + %(deadline)s)
    FROM sharing_record
    WHERE kind = 'delinquency' AND status <> 'retracted'
      AND created_at >= %(created_from)s AND created_at < %(end_at)s
      AND event_date + %(deadline)s >= %(start)s AND event_date + %(deadline)s < %(end)s
      AND (overdue_days >= %(overdue)s OR category = 'written_off')
      AND member_id = ANY(%(members)s)
    GROUP BY member_id
"""

# Each member's new open loans, and those whose borrower was then in another member's relief arrangement.
_UNDER_RELIEF_SQL = """
    WITH new AS (
        SELECT r.id, r.member_id, r.created_at, (r.created_at AT TIME ZONE %(zone)s)::date AS opened_on
        FROM sharing_record r
        WHERE r.member_id = ANY(%(members)s) AND r.kind = 'loan' AND r.status <> 'retracted'
          AND r.created_at >= %(start_at)s AND r.created_at < %(end_at)s
    )
    SELECT n.member_id, count(*),
           count(*) FILTER (WHERE EXISTS (
               SELECT 1
               FROM sharing_recordidentifier ni
               JOIN sharing_recordidentifier oi ON oi.token = ni.token AND oi.record_id <> n.id
               JOIN sharing_record o ON o.id = oi.record_id
               WHERE ni.record_id = n.id AND o.member_id <> n.member_id AND o.status <> 'retracted'
                 AND o.relief <> '' AND o.created_at < n.created_at AND o.relief_start <= n.opened_on
                 AND (o.relief_end IS NULL OR o.relief_end >= n.opened_on)
                 AND (o.resolved_date IS NULL OR o.resolved_date >= n.opened_on)))
    FROM new n
    GROUP BY n.member_id
"""


def relief_offered(ctx: ReportContext, period: Period, member_ids: list[int]) -> dict[int, tuple[int, int]]:
    """Per member with a cohort: (borrowers 30+ days overdue whose 60 days ended in the period, offered relief)."""
    deadline = OVERDUE_DAYS + OFFER_WITHIN_DAYS
    params = {
        "members": member_ids,
        "deadline": deadline,
        "overdue": OVERDUE_DAYS,
        "start": period.start,
        "end": period.end,
        "created_from": period.start_at - dt.timedelta(days=deadline),
        "end_at": period.end_at,
    }
    return {member_id: (cohort, offered) for member_id, cohort, offered in ctx.rows(_OFFERED_SQL, params)}


def under_relief_elsewhere(ctx: ReportContext, period: Period, member_ids: list[int]) -> dict[int, tuple[int, int]]:
    """Per member with new open loans: (new loans, those to a borrower in another member's relief arrangement)."""
    params = {"members": member_ids, "start_at": period.start_at, "end_at": period.end_at, "zone": str(period.zone)}
    return {member_id: (loans, under) for member_id, loans, under in ctx.rows(_UNDER_RELIEF_SQL, params)}


def peers_median(own_id: int, shares: dict[int, float], active: set[int]) -> float | None:
    """The median share among the other active members with a value; None below MIN_PEERS of them."""
    others = [share for member_id, share in shares.items() if member_id != own_id and member_id in active]
    return round(statistics.median(others), 6) if len(others) >= MIN_PEERS else None


def relief(ctx: ReportContext) -> dict[int, SectionData]:
    base = {
        "relief_policy_kinds": "",
        "delinquent_borrowers": 0,
        "offered_relief": 0,
        "relief_offered_share": None,
        "peers_median_relief_offered_share": None,
        "new_open_loans": 0,
        "new_loans_under_relief_elsewhere": 0,
        "new_loans_under_relief_elsewhere_share": None,
    }
    out = empty_sections(ctx, base)
    active = set(Institution.objects.filter(status=Institution.Status.ACTIVE).values_list("pk", flat=True))
    offered = relief_offered(ctx, ctx.period, sorted(active | set(ctx.member_ids)))
    shares = {member_id: given / cohort for member_id, (cohort, given) in offered.items()}
    loans = under_relief_elsewhere(ctx, ctx.period, ctx.member_ids)
    cards = cards_at(ctx.period, ctx.member_ids)
    for member_id, data in out.items():
        card = cards.get(member_id)
        kinds = ";".join(card.relief_kinds) if card else ""
        cohort, given = offered.get(member_id, (0, 0))
        new, under = loans.get(member_id, (0, 0))
        median = peers_median(member_id, shares, active)
        data.summary.update(
            relief_policy_kinds=kinds,
            delinquent_borrowers=cohort,
            offered_relief=given,
            relief_offered_share=ratio(given, cohort),
            peers_median_relief_offered_share=median,
            new_open_loans=new,
            new_loans_under_relief_elsewhere=under,
            new_loans_under_relief_elsewhere_share=ratio(under, new),
        )
        data.rows = [
            ["relief_offered_share", kinds, cohort, ratio(given, cohort), median],
            ["new_loans_under_relief_elsewhere", "", new, ratio(under, new), None],
        ]
    return out


RELIEF_SECTION = Section(
    "relief",
    _("Relief for borrowers in difficulty"),
    [
        Column("measure", _("Measure")),
        Column("policy", _("Relief your card offers")),
        Column("counted", _("Counted"), "int"),
        Column("value", _("Your value"), "ratio"),
        Column("peers_median", _("Median of other members (at least 5)"), "ratio"),
    ],
    relief,
    {
        "relief_policy_kinds": _("Relief your card offers"),
        "delinquent_borrowers": _("Borrowers 30+ days overdue whose 60 days to be offered relief ended in the period"),
        "offered_relief": _("Of them, offered relief within 60 days"),
        "relief_offered_share": _("Share offered relief within 60 days"),
        "peers_median_relief_offered_share": _("Other members' median share (shown from 5 members)"),
        "new_open_loans": _("New open loans in the period"),
        "new_loans_under_relief_elsewhere": _("New loans to borrowers in relief at another lender"),
        "new_loans_under_relief_elsewhere_share": _("Share of new loans to borrowers in relief elsewhere"),
    },
)
