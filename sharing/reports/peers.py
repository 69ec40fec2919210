"""Peer comparison ("互评"): where a member stands among the active members on a few measures.

A measure is one ``PeerMeasure`` entry in ``PEER_MEASURES``: a name, a title, which direction is
better, and a function giving every member's value in the period (members without data are left
out). A percentile is shown only when at least ``MIN_PEERS`` members have a value; the report never
names another member, shows another member's value, or says how many members were compared.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from members.models import Institution
from sharing.lookups.models import CONSENT_PURPOSES
from sharing.records.models import RecordKind
from sharing.reports.base import LATE_REPORTING_DAYS, Column, Period, ReportContext, Section, SectionData
from sharing.reports.exposure import loan_timeliness
from sharing.reports.policies import decline_breaches, lookups_per_new_loan, watched_share

MIN_PEERS = 5


@dataclass(frozen=True)
class PeerMeasure:
    name: str
    title: Promise
    better: str  # "lower" or "higher"
    values: Callable[[ReportContext, Period, list[int]], dict[int, float]]


def rejection_rate(ctx: ReportContext, period: Period, member_ids: list[int]) -> dict[int, float]:
    rows = ctx.rows(
        "SELECT member_id, sum(rejected)::float8 / sum(received) FROM sharing_batch "
        "WHERE member_id = ANY(%s) AND created_at >= %s AND created_at < %s "
        "GROUP BY member_id HAVING sum(received) > 0",
        [member_ids, period.start_at, period.end_at],
    )
    return dict(rows)


def late_reporting_share(ctx: ReportContext, period: Period, member_ids: list[int]) -> dict[int, float]:
    # Every member's rows of the period, then the population: an index-only scan of the partial
    # index record_delinquency_created_idx (a member filter first would visit the table).
    rows = ctx.rows(
        "SELECT member_id, "
        "(count(*) FILTER (WHERE (created_at AT TIME ZONE %s)::date - event_date > %s))::float8 / count(*) "
        "FROM sharing_record WHERE kind = %s AND created_at >= %s AND created_at < %s GROUP BY member_id",
        [settings.TIME_ZONE, LATE_REPORTING_DAYS, RecordKind.DELINQUENCY, period.start_at, period.end_at],
    )
    wanted = set(member_ids)
    return {member_id: value for member_id, value in rows if member_id in wanted}


def consent_compliance(ctx: ReportContext, period: Period, member_ids: list[int]) -> dict[int, float]:
    """Share of lookups whose purpose needs consent that carried a consent reference."""
    # Index-only scan of the partial index lookup_consent_time_idx, whose predicate is this list
    # (parameters are bound on the client, so the planner sees the literals and proves the predicate).
    rows = ctx.rows(
        "SELECT member_id, (count(*) FILTER (WHERE consent_reference <> ''))::float8 / count(*) "
        "FROM sharing_lookup WHERE purpose = ANY(%s) AND created_at >= %s AND created_at < %s GROUP BY member_id",
        [sorted(CONSENT_PURPOSES), period.start_at, period.end_at],
    )
    wanted = set(member_ids)
    return {member_id: value for member_id, value in rows if member_id in wanted}


def dispute_corrected_rate(ctx: ReportContext, period: Period, member_ids: list[int]) -> dict[int, float]:
    """Share of the disputes against a member's records settled in the period whose outcome was 'corrected'."""
    rows = ctx.rows(
        "SELECT r.reporting_member_id, "
        "(count(DISTINCT d.id) FILTER (WHERE d.status = 'corrected'))::float8 / count(DISTINCT d.id) "
        "FROM sharing_disputedrecord r JOIN sharing_dispute d ON d.id = r.dispute_id "
        "WHERE r.reporting_member_id = ANY(%s) AND d.settled_at >= %s AND d.settled_at < %s GROUP BY 1",
        [member_ids, period.start_at, period.end_at],
    )
    return dict(rows)


PEER_MEASURES: list[PeerMeasure] = [
    PeerMeasure("dispute_corrected_rate", _("Dispute-corrected rate"), "lower", dispute_corrected_rate),
    PeerMeasure("rejection_rate", _("Rejection rate"), "lower", rejection_rate),
    PeerMeasure("late_reporting_share", _("Late-reporting share"), "lower", late_reporting_share),
    PeerMeasure("consent_compliance", _("Consent compliance"), "higher", consent_compliance),
    PeerMeasure("loan_timeliness", _("Open loans re-reported within 45 days"), "higher", loan_timeliness),
    PeerMeasure("decline_breaches", _("New loans made against the own risk-policy card"), "lower", decline_breaches),
    PeerMeasure("watched_share", _("Open loans under a watch"), "higher", watched_share),
    PeerMeasure("lookups_per_new_loan", _("Credit lookups per new loan"), "higher", lookups_per_new_loan),
]


def percentile_rank(value: float, values: list[float]) -> float:
    """Mid-rank percentile of ``value`` among ``values`` (which include it): 0 lowest, 100 highest."""
    below = sum(1 for other in values if other < value)
    equal = sum(1 for other in values if other == value)
    return round(100 * (below + 0.5 * equal) / len(values), 1)


def peers(ctx: ReportContext) -> dict[int, SectionData]:
    """Each member's percentile among active members (and itself) that have data for the measure."""
    active = set(Institution.objects.filter(status=Institution.Status.ACTIVE).values_list("pk", flat=True))
    population = sorted(active | set(ctx.member_ids))
    out = {member_id: SectionData() for member_id in ctx.member_ids}
    for measure in PEER_MEASURES:
        values = measure.values(ctx, ctx.period, population)
        for member_id in ctx.member_ids:
            own = values.get(member_id)
            compared = [value for other, value in values.items() if other in active or other == member_id]
            comparable = own is not None and len(compared) >= MIN_PEERS
            percentile = percentile_rank(own, compared) if comparable else None
            own_value = round(own, 6) if own is not None else None
            out[member_id].rows.append([measure.name, measure.better, own_value, percentile])
            out[member_id].summary[f"{measure.name}_percentile"] = percentile
    return out


PEERS_SECTION = Section(
    "peers",
    _("Peer comparison"),
    [
        Column("measure", _("Measure")),
        Column("better", _("Better when")),
        Column("your_value", _("Your value"), "ratio"),
        Column("percentile", _("Your percentile among active members"), "number"),
    ],
    peers,
    {f"{measure.name}_percentile": measure.title for measure in PEER_MEASURES},
)
