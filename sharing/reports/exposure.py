"""The exposure section of a self-inspection report: the member's open loans at the period's end and
how many it re-reported within the stale window (timeliness of the monthly refresh), by product.

A loan counts when it was first reported before the period ended and was open then (not retracted,
no closing date before the end). Its latest report before the end is its report time if that was
before the end, else the latest row-history version before the end (every re-send writes one), else
its first report. Re-reported in time: that latest report is at most ``RISKSHARE_EXPOSURE_STALE_DAYS``
old at the period's end. The same share, for every active member, is the peer measure
``loan_timeliness`` (sharing.reports.peers).
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.utils.translation import gettext_lazy as _

from sharing.reports.base import Column, Period, ReportContext, Section, SectionData, empty_sections, ratio

_OPEN_LOANS_SQL = """
    SELECT r.member_id, r.product,
           count(*),
           count(*) FILTER (WHERE coalesce(
               CASE WHEN r.reported_at < %(end)s THEN r.reported_at END,
               (SELECT max(h.pgh_created_at) FROM sharing_recordevent h
                WHERE h.pgh_obj_id = r.id AND h.pgh_created_at < %(end)s),
               r.created_at) >= %(fresh_since)s)
    FROM sharing_record r
    WHERE r.member_id = ANY(%(members)s) AND r.kind = 'loan' AND r.status <> 'retracted'
      AND r.created_at < %(end)s AND (r.resolved_date IS NULL OR r.resolved_date >= %(last_day)s)
    GROUP BY 1, 2 ORDER BY 1, 2
"""


def open_loans(ctx: ReportContext, period: Period, member_ids: list[int]) -> list[tuple]:
    """(member, product, open loans at the period's end, of them re-reported within the stale window)."""
    params = {
        "members": member_ids,
        "end": period.end_at,
        "fresh_since": period.end_at - dt.timedelta(days=settings.RISKSHARE_EXPOSURE_STALE_DAYS),
        "last_day": period.end - dt.timedelta(days=1),
    }
    return [tuple(row) for row in ctx.rows(_OPEN_LOANS_SQL, params)]


def loan_timeliness(ctx: ReportContext, period: Period, member_ids: list[int]) -> dict[int, float]:
    """Share of each member's open loans at the period's end re-reported within the stale window."""
    totals: dict[int, list[int]] = {}
    for member_id, _product, count, fresh in open_loans(ctx, period, member_ids):
        total = totals.setdefault(member_id, [0, 0])
        total[0] += count
        total[1] += fresh
    return {member_id: fresh / count for member_id, (count, fresh) in totals.items() if count}


def exposure(ctx: ReportContext) -> dict[int, SectionData]:
    out = empty_sections(ctx, {"open_loans": 0, "rereported_in_time": 0, "stale_loans": 0, "timeliness": None})
    for member_id, product, count, fresh in open_loans(ctx, ctx.period, ctx.member_ids):
        out[member_id].rows.append([product, count, fresh, count - fresh, ratio(fresh, count)])
        summary = out[member_id].summary
        summary["open_loans"] += count
        summary["rereported_in_time"] += fresh
        summary["stale_loans"] += count - fresh
    for data in out.values():
        data.summary["timeliness"] = ratio(data.summary["rereported_in_time"], data.summary["open_loans"])
    return out


EXPOSURE_SECTION = Section(
    "exposure",
    _("Open loans (exposure)"),
    [
        Column("product", _("Product")),
        Column("open_loans", _("Open loans at period end"), "int"),
        Column("rereported_in_time", _("Re-reported within 45 days"), "int"),
        Column("stale_loans", _("Stale (not re-reported within 45 days)"), "int"),
        Column("timeliness", _("Share re-reported within 45 days"), "ratio"),
    ],
    exposure,
    {
        "open_loans": _("Open loans at period end"),
        "rereported_in_time": _("Re-reported within 45 days"),
        "stale_loans": _("Stale (not re-reported within 45 days)"),
        "timeliness": _("Share re-reported within 45 days"),
    },
)
