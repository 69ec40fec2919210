"""The risk-policy section of a self-inspection report: the member's card in effect at the period's end
beside how the member's own traffic carried it out (定期披露风控政策和执行情况).

Measures, each computed from the member's own records, watches and lookups:
- ``decline_breaches``: of its new open loans (first reported in the period), the share whose borrower
  had, when the loan was first reported, at least ``multi_lending_decline.lenders`` other lenders with an
  open loan (the card's "declines at"), or a total credit limit over all lenders' open loans (this one
  included) above ``max_credit_line``;
- ``watched_share``: of its open loans at the period's end, the share with a token under one of its own
  watches that was live at the end (against ``watch_all_loans``);
- ``lookups_per_new_loan``: identifiers it looked up for credit (credit_application, account_opening) in
  the period per new open loan;
- ``dispute_upheld_rate``: of the disputes against its records settled in the period, the share whose
  outcome was ``corrected`` (the subject's objection upheld).
The first three are peer measures too (sharing.reports.peers); the last one is there already.
"""

from __future__ import annotations

import datetime as dt

from django.utils.translation import gettext_lazy as _

from sharing.registers.models import PolicyCard
from sharing.reports.base import Column, Period, ReportContext, Section, SectionData, empty_sections, ratio

# Every new open loan of the members, with the other lenders' open loans on its tokens when it was first
# reported: how many lenders, and their credit limits (each other loan once, however many tokens it shares).
_NEW_LOANS_SQL = """
    WITH new AS (
        SELECT r.id, r.member_id, r.created_at, r.credit_limit
        FROM sharing_record r
        WHERE r.member_id = ANY(%(members)s) AND r.kind = 'loan' AND r.status <> 'retracted'
          AND r.created_at >= %(start)s AND r.created_at < %(end)s
    ),
    others AS (
        SELECT DISTINCT n.id AS new_id, o.id, o.member_id, o.credit_limit
        FROM new n
        JOIN sharing_recordidentifier ni ON ni.record_id = n.id
        JOIN sharing_recordidentifier oi ON oi.token = ni.token AND oi.record_id <> n.id
        JOIN sharing_record o ON o.id = oi.record_id
        WHERE o.kind = 'loan' AND o.status <> 'retracted' AND o.member_id <> n.member_id
          AND o.created_at < n.created_at
          AND (o.resolved_date IS NULL OR o.resolved_date >= (n.created_at AT TIME ZONE %(zone)s)::date)
    )
    SELECT n.member_id, n.credit_limit,
           (SELECT count(DISTINCT member_id) FROM others WHERE others.new_id = n.id),
           (SELECT coalesce(sum(credit_limit), 0) FROM others WHERE others.new_id = n.id)
    FROM new n
"""

# Each member's open loans at the period's end, and how many carry a token of one of its live watches.
_WATCHED_SQL = """
    WITH loans AS MATERIALIZED (
        SELECT r.id, r.member_id FROM sharing_record r
        WHERE r.member_id = ANY(%(members)s) AND r.kind = 'loan' AND r.status <> 'retracted'
          AND r.created_at < %(end)s AND (r.resolved_date IS NULL OR r.resolved_date >= %(last_day)s)
    ),
    loan_tokens AS MATERIALIZED (
        SELECT l.id, l.member_id, ri.token FROM loans l JOIN sharing_recordidentifier ri ON ri.record_id = l.id
    ),
    watch_tokens AS MATERIALIZED (
        -- The loans' tokens first, then the watch tokens by them, each read alone: on a Citus cluster the watch
        -- tokens are sharded by token while records and watches are not, and Citus plans no correlated
        -- subquery on a sharded table from a local query (docs/design.md, "Distribution (Citus)"). The same
        -- index probes per loan token on one PostgreSQL as the EXISTS this was.
        SELECT DISTINCT wt.token, wt.watch_id FROM loan_tokens lt JOIN sharing_watchtoken wt ON wt.token = lt.token
    )
    SELECT l.member_id, count(*),
           count(*) FILTER (WHERE l.id IN (
               SELECT lt.id FROM loan_tokens lt
               JOIN watch_tokens wt ON wt.token = lt.token
               JOIN sharing_watch w ON w.id = wt.watch_id
               WHERE w.member_id = lt.member_id AND w.created_at < %(end)s AND w.expires_on >= %(last_day)s))
    FROM loans l
    GROUP BY 1
"""

_CREDIT_LOOKUPS_SQL = """
    SELECT member_id, sum(identifiers) FROM sharing_lookup
    WHERE member_id = ANY(%(members)s) AND purpose IN ('credit_application', 'account_opening')
      AND created_at >= %(start)s AND created_at < %(end)s
    GROUP BY 1
"""


def cards_at(period: Period, member_ids: list[int]) -> dict[int, PolicyCard]:
    """Each member's card in effect on the period's last day."""
    cards = (
        PolicyCard.objects.filter(
            member_id__in=member_ids, effective_from__lt=period.end, published_at__lt=period.end_at
        )
        .order_by("member_id", "-version")
        .distinct("member_id")
    )
    return {card.member_id: card for card in cards}


def _params(period: Period, member_ids: list[int]) -> dict:
    return {
        "members": member_ids,
        "start": period.start_at,
        "end": period.end_at,
        "last_day": period.end - dt.timedelta(days=1),
        "zone": str(period.zone),
    }


def new_loans(ctx: ReportContext, period: Period, member_ids: list[int]) -> dict[int, list[tuple]]:
    """Per member: (own credit limit, other lenders, their total credit limit) of each new open loan."""
    out: dict[int, list[tuple]] = {}
    for member_id, limit, lenders, others_limit in ctx.rows(_NEW_LOANS_SQL, _params(period, member_ids)):
        out.setdefault(member_id, []).append((limit or 0, lenders, others_limit))
    return out


def decline_breaches(ctx: ReportContext, period: Period, member_ids: list[int]) -> dict[int, float]:
    """Share of each member's new open loans made against its own card (members with a card and new loans)."""
    cards = cards_at(period, member_ids)
    out = {}
    for member_id, loans in new_loans(ctx, period, list(cards)).items():
        card = cards[member_id]
        breaches = sum(
            1
            for limit, lenders, others_limit in loans
            if lenders >= card.decline_at_lenders or limit + others_limit > card.max_credit_line
        )
        out[member_id] = breaches / len(loans)
    return out


def watched(ctx: ReportContext, period: Period, member_ids: list[int]) -> dict[int, tuple[int, int]]:
    return {m: (loans, watched) for m, loans, watched in ctx.rows(_WATCHED_SQL, _params(period, member_ids))}


def watched_share(ctx: ReportContext, period: Period, member_ids: list[int]) -> dict[int, float]:
    return {member_id: w / n for member_id, (n, w) in watched(ctx, period, member_ids).items() if n}


def lookups_per_new_loan(ctx: ReportContext, period: Period, member_ids: list[int]) -> dict[int, float]:
    looked_up = dict(ctx.rows(_CREDIT_LOOKUPS_SQL, _params(period, member_ids)))
    loans = new_loans(ctx, period, member_ids)
    return {member_id: float(looked_up.get(member_id) or 0) / len(new) for member_id, new in loans.items() if new}


def policy(ctx: ReportContext) -> dict[int, SectionData]:
    from sharing.reports.peers import dispute_corrected_rate

    out = empty_sections(ctx, {"card_version": None, "effective_from": None})
    cards = cards_at(ctx.period, ctx.member_ids)
    loans = new_loans(ctx, ctx.period, ctx.member_ids)
    breaches = decline_breaches(ctx, ctx.period, ctx.member_ids)
    watch_counts = watched(ctx, ctx.period, ctx.member_ids)
    per_loan = lookups_per_new_loan(ctx, ctx.period, ctx.member_ids)
    upheld = dispute_corrected_rate(ctx, ctx.period, ctx.member_ids)
    for member_id, data in out.items():
        card = cards.get(member_id)
        if card is not None:
            data.summary.update(card_version=card.version, effective_from=card.effective_from)
        open_loans, watched_loans = watch_counts.get(member_id, (0, 0))
        data.rows = [
            [
                "decline_breaches",
                f"{card.decline_at_lenders} / {card.max_credit_line}" if card else "",
                len(loans.get(member_id, [])),
                breaches.get(member_id),
            ],
            [
                "watched_share",
                ("true" if card.watch_all_loans else "false") if card else "",
                open_loans,
                ratio(watched_loans, open_loans),
            ],
            ["lookups_per_new_loan", "", len(loans.get(member_id, [])), per_loan.get(member_id)],
            ["dispute_upheld_rate", "", None, upheld.get(member_id)],
        ]
        data.summary["new_open_loans"] = len(loans.get(member_id, []))
    return out


POLICY_SECTION = Section(
    "policy",
    _("Risk policy and its execution"),
    [
        Column("measure", _("Measure")),
        Column("policy", _("Your card says")),
        Column("loans", _("Loans counted"), "int"),
        Column("value", _("Your value"), "number"),
    ],
    policy,
    {
        "card_version": _("Card version in effect"),
        "effective_from": _("Effective from"),
        "new_open_loans": _("New open loans in the period"),
    },
)
