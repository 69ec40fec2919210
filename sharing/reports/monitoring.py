"""The monitoring section of a self-inspection report: watches, events by type, webhook deliveries."""

from __future__ import annotations

import datetime as dt
import statistics
from collections import defaultdict

from django.utils.translation import gettext_lazy as _

from sharing.reports.base import Column, ReportContext, Section, SectionData, empty_sections, ratio


def monitoring(ctx: ReportContext) -> dict[int, SectionData]:
    """Watches active on the period's last day, the period's events by type, and how their deliveries went.

    The failure rate is the share of the period's deliveries that ended as dead letters; the delay is
    from an event's creation to its delivery's 2xx (median, seconds).
    """
    p = ctx.period
    base = {
        "active_watches": 0,
        "events": 0,
        "deliveries": 0,
        "deliveries_delivered": 0,
        "deliveries_dead": 0,
        "delivery_failure_rate": None,
        "median_delivery_delay_seconds": None,
    }
    out = empty_sections(ctx, base)
    last_day = p.end - dt.timedelta(days=1)
    for member_id, count in ctx.rows(
        "SELECT member_id, count(*) FROM sharing_watch WHERE member_id = ANY(%s) AND created_at < %s "
        "AND expires_on >= %s GROUP BY 1",
        [ctx.member_ids, p.end_at, last_day],
    ):
        out[member_id].summary["active_watches"] = count
    for member_id, event_type, count in ctx.rows(
        "SELECT member_id, type, count(*) FROM sharing_monitoringevent "
        "WHERE member_id = ANY(%s) AND created_at >= %s AND created_at < %s GROUP BY 1, 2 ORDER BY 1, 2",
        [ctx.member_ids, p.start_at, p.end_at],
    ):
        out[member_id].rows.append([event_type, count])
        out[member_id].summary["events"] += count
    delays: dict[int, list[float]] = defaultdict(list)
    for member_id, status, delay in ctx.rows(
        "SELECT e.member_id, d.status, extract(epoch FROM d.delivered_at - e.created_at)::float "
        "FROM sharing_webhookdelivery d JOIN sharing_monitoringevent e ON e.id = d.event_id "
        "WHERE e.member_id = ANY(%s) AND e.created_at >= %s AND e.created_at < %s",
        [ctx.member_ids, p.start_at, p.end_at],
    ):
        summary = out[member_id].summary
        summary["deliveries"] += 1
        if status == "delivered":
            summary["deliveries_delivered"] += 1
            delays[member_id].append(delay)
        elif status == "dead":
            summary["deliveries_dead"] += 1
    for member_id, data in out.items():
        data.summary["delivery_failure_rate"] = ratio(data.summary["deliveries_dead"], data.summary["deliveries"])
        taken = delays.get(member_id)
        data.summary["median_delivery_delay_seconds"] = round(statistics.median(taken), 3) if taken else None
    return out


MONITORING_SECTION = Section(
    "monitoring",
    _("Post-loan monitoring"),
    [Column("event_type", _("Event type")), Column("events", _("Events"), "int")],
    monitoring,
    {
        "active_watches": _("Active watches"),
        "events": _("Monitoring events"),
        "deliveries": _("Webhook deliveries"),
        "deliveries_delivered": _("Deliveries delivered"),
        "deliveries_dead": _("Dead letters"),
        "delivery_failure_rate": _("Delivery failure rate"),
        "median_delivery_delay_seconds": _("Median delivery delay (seconds)"),
    },
)
