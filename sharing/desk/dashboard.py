"""The dashboard's sharing panels: disputes by deadline, stuck batches, today's flags, and two charts.

Each count reads a partial index or a small table; the charts sum batches and lookups (one row per
request, not per identifier) over 30 days, grouped by day in SQL, and are drawn here as SVG.
"""

from __future__ import annotations

import datetime as dt

from django.db import connection
from django.db.models import Count, Q
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext

from core.clock import business_day_start, business_today
from members.admin.dashboard import Line, Panel, changelist_url, dashboard_panel
from sharing.common.relief import ReliefKind
from sharing.disputes.models import Dispute
from sharing.disputes.services import due_soon_days
from sharing.lookups.models import MemberFlag, QuotaRefusal
from sharing.records.admin import stuck_before
from sharing.records.models import Batch, Record, relief_running

CHART_DAYS = 30


@dashboard_panel(10)
def work_panel(request) -> Panel | None:
    user = request.user
    lines = []
    if user.has_perm("sharing.view_dispute"):
        today = business_today()
        counts = Dispute.objects.filter(status=Dispute.Status.OPEN).aggregate(
            overdue=Count("pk", filter=Q(due_date__lt=today)),
            due_soon=Count(
                "pk", filter=Q(due_date__gte=today, due_date__lte=today + dt.timedelta(days=due_soon_days()))
            ),
        )
        url = changelist_url("sharing.dispute", deadline="overdue")
        lines.append(Line(gettext("Disputes overdue"), counts["overdue"], url, tone="alert"))
        url = changelist_url("sharing.dispute", deadline="due_soon")
        lines.append(
            Line(gettext("Disputes due within %(days)d days") % {"days": due_soon_days()}, counts["due_soon"], url)
        )
    if user.has_perm("sharing.view_batch"):
        stuck = Batch.objects.filter(
            status__in=[Batch.Status.RECEIVED, Batch.Status.PROCESSING], updated_at__lt=stuck_before()
        ).count()
        lines.append(
            Line(
                gettext("Batches stuck in received/processing past the sweep interval"),
                stuck,
                changelist_url("sharing.batch", stuck="1"),
                tone="alert",
            )
        )
    if user.has_perm("sharing.view_memberflag"):
        since = business_day_start(business_today())
        flags = MemberFlag.objects.filter(created_at__gte=since).count()
        lines.append(
            Line(
                gettext("Member flags raised today (possible enumeration)"),
                flags,
                changelist_url("sharing.memberflag", created_at__gte=since.isoformat()),
            )
        )
        refused = QuotaRefusal.objects.filter(day=business_today()).aggregate(members=Count("member_id", distinct=True))
        lines.append(
            Line(
                gettext("Members refused lookups over their quota today"),
                refused["members"],
                changelist_url("sharing.lookupquota"),
            )
        )
    return Panel(gettext("Needs an operator"), lines) if lines else None


@dashboard_panel(20)
def relief_panel(request) -> Panel | None:
    """Relief arrangements running on members' loans and delinquencies, by kind: information, not work."""
    if not request.user.has_perm("sharing.view_record"):
        return None
    running = dict(
        Record.objects.filter(relief_running()).values("relief").annotate(n=Count("pk")).values_list("relief", "n")
    )
    lines = [
        Line(
            gettext("Relief running: %(kind)s") % {"kind": label},
            running.get(kind, 0),
            changelist_url("sharing.record", relief_state="running", relief__exact=kind),
            tone="info",
        )
        for kind, label in ReliefKind.choices
    ]
    return Panel(gettext("Relief for borrowers in difficulty"), lines)


# Monitoring's panel (failing webhook endpoints, dead letters) is in sharing.monitoring.admin.


def _days() -> list[dt.date]:
    today = business_today()
    return [today - dt.timedelta(days=n) for n in range(CHART_DAYS - 1, -1, -1)]


def _per_day(sql: str) -> dict[dt.date, tuple[int, ...]]:
    since = business_day_start(business_today() - dt.timedelta(days=CHART_DAYS - 1))
    with connection.cursor() as cursor:
        cursor.execute(sql, {"since": since})
        return {day: tuple(int(v or 0) for v in values) for day, *values in cursor.fetchall()}


_RECORDS_PER_DAY = """
    SELECT (created_at AT TIME ZONE 'Asia/Shanghai')::date AS day, sum(received)
    FROM sharing_batch WHERE created_at >= %(since)s GROUP BY 1
"""
_LOOKUPS_PER_DAY = """
    SELECT (created_at AT TIME ZONE 'Asia/Shanghai')::date AS day, sum(hits), sum(identifiers - hits)
    FROM sharing_lookup WHERE created_at >= %(since)s GROUP BY 1
"""


def bar_chart(days: list[dt.date], series: list[tuple[str, str, list[int]]], *, title: str) -> SafeString:
    """Stacked bars, one per day, drawn as SVG: no script, no library, readable without colour (titles)."""
    width, height, left, bottom, top = 640, 220, 48, 28, 24
    plot_w, plot_h = width - left - 8, height - bottom - top
    totals = [sum(values[i] for _n, _c, values in series) for i in range(len(days))]
    peak = max(totals) or 1
    slot = plot_w / len(days)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(title)}">',
        f'<line x1="{left}" y1="{top + plot_h}" x2="{width - 8}" y2="{top + plot_h}" stroke="#999"/>',
        f'<text x="{left - 4}" y="{top + 4}" text-anchor="end" font-size="11" fill="#666">{peak:,}</text>',
        f'<text x="{left - 4}" y="{top + plot_h}" text-anchor="end" font-size="11" fill="#666">0</text>',
    ]
    for i, day in enumerate(days):
        y = top + plot_h
        tip = [f"{day:%m-%d}"]
        for name, colour, values in series:
            h = values[i] / peak * plot_h
            y -= h
            tip.append(f"{name} {values[i]:,}")
            if h > 0:
                parts.append(
                    f'<rect x="{left + i * slot + 1:.1f}" y="{y:.1f}" width="{slot - 2:.1f}" height="{h:.1f}" '
                    f'fill="{colour}"><title>{escape(" · ".join(tip))}</title></rect>'
                )
        if i in (0, len(days) // 2, len(days) - 1):
            x = left + i * slot + slot / 2
            parts.append(
                f'<text x="{x:.1f}" y="{height - 10}" text-anchor="middle" font-size="11" fill="#666">'
                f"{day.month}/{day.day}</text>"
            )
    for j, (name, colour, _values) in enumerate(series):
        x = left + j * 140
        parts.append(f'<rect x="{x}" y="4" width="10" height="10" fill="{colour}"/>')
        parts.append(f'<text x="{x + 14}" y="13" font-size="11" fill="#333">{escape(name)}</text>')
    parts.append("</svg>")
    # Every text above is escaped or a number we formatted.
    return mark_safe("".join(parts))  # noqa: S308


@dashboard_panel(40)
def records_chart(request) -> Panel | None:
    if not request.user.has_perm("sharing.view_batch"):
        return None
    days = _days()
    per_day = _per_day(_RECORDS_PER_DAY)
    values = [per_day.get(day, (0,))[0] for day in days]
    title = gettext("Records submitted per day (last %(days)d days)") % {"days": CHART_DAYS}
    name = gettext("records")
    return Panel(title, body=bar_chart(days, [(name, "#417690", values)], title=title))


@dashboard_panel(50)
def lookups_chart(request) -> Panel | None:
    if not request.user.has_perm("sharing.view_lookup"):
        return None
    days = _days()
    per_day = _per_day(_LOOKUPS_PER_DAY)
    hits = [per_day.get(day, (0, 0))[0] for day in days]
    misses = [per_day.get(day, (0, 0))[1] for day in days]
    title = gettext("Identifiers looked up per day (last %(days)d days)") % {"days": CHART_DAYS}
    series = [(gettext("hits"), "#ba2121", hits), (gettext("misses"), "#9fc5d9", misses)]
    return Panel(title, body=bar_chart(days, series, title=title))
