"""The sections of a self-inspection report, each one function registered in ``SECTIONS``.

A section computes, in a few set-based queries, its table and its summary numbers for every member
of the context at once (``member_id = ANY(...)`` ... ``GROUP BY member_id``): one report or a hundred
cost the same number of queries. All run in the generator's one REPEATABLE READ transaction.

To add a section: write ``def my_section(ctx) -> dict[int, SectionData]`` and append one ``Section``
to ``SECTIONS`` (name = CSV file and sheet, title, columns). Nothing else changes.
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections import defaultdict

from django.conf import settings
from django.utils.translation import gettext_lazy as _

from core.clock import business_day_start
from sharing.lookups.models import CONSENT_PURPOSES, MemberFlag
from sharing.records.models import RecordKind
from sharing.reports.base import (
    LATE_REPORTING_DAYS,
    Column,
    ReportContext,
    Section,
    SectionData,
    empty_sections,
    ratio,
)
from sharing.reports.evaluations import EVALUATIONS_SECTION
from sharing.reports.exposure import EXPOSURE_SECTION
from sharing.reports.monitoring import MONITORING_SECTION
from sharing.reports.peers import PEERS_SECTION
from sharing.reports.policies import POLICY_SECTION
from sharing.reports.relief import RELIEF_SECTION
from sharing.retention.selectors import records_past_retention

CREDENTIAL_UNUSED_DAYS = 90
CREDENTIAL_OLD_DAYS = 365


# --- submissions ---------------------------------------------------------------------------------


def submissions(ctx: ReportContext) -> dict[int, SectionData]:
    p = ctx.period
    base = {
        "batches": 0,
        "records_received": 0,
        "records_accepted": 0,
        "records_rejected": 0,
        "rejection_rate": None,
        "records_updated": 0,
        "records_resolved": 0,
        "records_retracted": 0,
    }
    out = empty_sections(ctx, base)
    for member_id, batches, received, accepted, rejected in ctx.rows(
        "SELECT member_id, count(*), coalesce(sum(received), 0), coalesce(sum(accepted), 0), "
        "coalesce(sum(rejected), 0) FROM sharing_batch "
        "WHERE member_id = ANY(%s) AND created_at >= %s AND created_at < %s GROUP BY member_id",
        [ctx.member_ids, p.start_at, p.end_at],
    ):
        out[member_id].summary.update(
            batches=batches,
            records_received=int(received),
            records_accepted=int(accepted),
            records_rejected=int(rejected),
            rejection_rate=ratio(rejected, received),
        )
    # A record rejected for two reasons counts once under each code.
    for member_id, code, records in ctx.rows(
        "SELECT b.member_id, e->>'code', count(DISTINCT b.id::text || ':' || (e->>'index')) "
        "FROM sharing_batch b CROSS JOIN LATERAL jsonb_array_elements(b.errors) e "
        "WHERE b.member_id = ANY(%s) AND b.created_at >= %s AND b.created_at < %s AND b.rejected > 0 "
        "GROUP BY 1, 2 ORDER BY 1, 3 DESC, 2",
        [ctx.member_ids, p.start_at, p.end_at],
    ):
        out[member_id].rows.append([code, records])
    # Every change after a record's first version leaves a row-history event (re-sent facts, resolved,
    # retracted, disputed): a record changed several times counts once.
    for member_id, updated in ctx.rows(
        "SELECT member_id, count(DISTINCT pgh_obj_id) FROM sharing_recordevent "
        "WHERE member_id = ANY(%s) AND pgh_created_at >= %s AND pgh_created_at < %s GROUP BY member_id",
        [ctx.member_ids, p.start_at, p.end_at],
    ):
        out[member_id].summary["records_updated"] = updated
    for member_id, action, records in ctx.rows(
        "SELECT r.member_id, a.action, count(DISTINCT a.object_id) FROM members_auditevent a "
        "JOIN sharing_record r ON r.id = a.object_id::bigint "
        "WHERE a.action IN ('record.resolved', 'record.retracted') AND a.object_type = 'sharing.record' "
        "AND a.occurred_at >= %s AND a.occurred_at < %s AND r.member_id = ANY(%s) GROUP BY 1, 2",
        [p.start_at, p.end_at, ctx.member_ids],
    ):
        key = "records_resolved" if action == "record.resolved" else "records_retracted"
        out[member_id].summary[key] = records
    return out


# --- timeliness ----------------------------------------------------------------------------------


def timeliness(ctx: ReportContext) -> dict[int, SectionData]:
    """Delinquency records first reported in the period, and those reported over 30 days after the event."""
    p = ctx.period
    out = empty_sections(ctx, {"delinquencies_reported": 0, "reported_late": 0, "late_share": None})
    for member_id, category, reported, late in ctx.rows(
        "SELECT member_id, category, count(*), "
        "count(*) FILTER (WHERE (created_at AT TIME ZONE %s)::date - event_date > %s) "
        "FROM sharing_record WHERE member_id = ANY(%s) AND kind = %s AND created_at >= %s AND created_at < %s "
        "GROUP BY 1, 2 ORDER BY 1, 2",
        [settings.TIME_ZONE, LATE_REPORTING_DAYS, ctx.member_ids, RecordKind.DELINQUENCY, p.start_at, p.end_at],
    ):
        data = out[member_id]
        data.rows.append([category, reported, late, ratio(late, reported)])
        data.summary["delinquencies_reported"] += reported
        data.summary["reported_late"] += late
    for data in out.values():
        data.summary["late_share"] = ratio(data.summary["reported_late"], data.summary["delinquencies_reported"])
    return out


# --- lookups -------------------------------------------------------------------------------------


def lookups(ctx: ReportContext) -> dict[int, SectionData]:
    p = ctx.period
    base = {
        "lookups": 0,
        "identifiers": 0,
        "hits": 0,
        "hit_ratio": None,
        "consent_required_lookups": 0,
        "lookups_without_consent": 0,
        "quota_refusals": 0,
        "enumeration_flags": 0,
        "consent_references_reused": 0,
    }
    out = empty_sections(ctx, base)
    consent_purposes = sorted(CONSENT_PURPOSES)
    for member_id, prefix, purpose, count, identifiers, hits, consent_required, without_consent in ctx.rows(
        "SELECT l.member_id, c.prefix, l.purpose, count(*), sum(l.identifiers), sum(l.hits), "
        "count(*) FILTER (WHERE l.purpose = ANY(%s)), "
        "count(*) FILTER (WHERE l.purpose = ANY(%s) AND l.consent_reference = '') "
        "FROM sharing_lookup l JOIN members_credential c ON c.id = l.credential_id "
        "WHERE l.member_id = ANY(%s) AND l.created_at >= %s AND l.created_at < %s "
        "GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
        [consent_purposes, consent_purposes, ctx.member_ids, p.start_at, p.end_at],
    ):
        identifiers, hits = int(identifiers), int(hits)
        data = out[member_id]
        data.rows.append([prefix, purpose, count, identifiers, hits, ratio(hits, identifiers), without_consent])
        summary = data.summary
        summary["lookups"] += count
        summary["identifiers"] += identifiers
        summary["hits"] += hits
        summary["consent_required_lookups"] += consent_required
        summary["lookups_without_consent"] += without_consent
    for data in out.values():
        data.summary["hit_ratio"] = ratio(data.summary["hits"], data.summary["identifiers"])
    for member_id, refused in ctx.rows(
        "SELECT member_id, sum(refused) FROM sharing_quotarefusal "
        "WHERE member_id = ANY(%s) AND day >= %s AND day < %s GROUP BY member_id",
        [ctx.member_ids, p.start, p.end],
    ):
        out[member_id].summary["quota_refusals"] = int(refused)
    for member_id, flags in ctx.rows(
        "SELECT member_id, count(*) FROM sharing_memberflag "
        "WHERE member_id = ANY(%s) AND kind = %s AND day >= %s AND day < %s GROUP BY member_id",
        [ctx.member_ids, MemberFlag.Kind.ENUMERATION, p.start, p.end],
    ):
        out[member_id].summary["enumeration_flags"] = flags
    for member_id, reused in ctx.rows(
        _CONSENT_REUSE_SQL,
        [consent_purposes, ctx.member_ids, p.start_at, p.end_at, settings.RISKSHARE_CONSENT_REUSE_SUBJECTS],
    ):
        out[member_id].summary["consent_references_reused"] = reused
    return out


# One consent covers one applicant: a consent reference that covers more subjects than
# RISKSHARE_CONSENT_REUSE_SUBJECTS in the period is suspicious. The platform sees tokens, not people, so
# a reference's subjects are counted from below: the distinct first identifiers of its lookups (a lookup
# asks about one applicant, whose identifiers it sends together), and no fewer than its distinct
# identifiers over 8 (a subject has at most 8, one per type).
_CONSENT_REUSE_SQL = """
    WITH consented AS MATERIALIZED (
        -- Read alone: on a Citus cluster the lookups stay on the coordinator and their entries are sharded
        -- by token, and Citus joins no local table with a sharded one (docs/design.md, "Distribution").
        SELECT id, member_id, consent_reference FROM sharing_lookup
        WHERE purpose = ANY(%s) AND consent_reference <> '' AND member_id = ANY(%s)
            AND created_at >= %s AND created_at < %s
    )
    SELECT member_id, count(*) FROM (
        SELECT l.member_id
        FROM consented l JOIN sharing_lookupentry e ON e.lookup_id = l.id
        GROUP BY l.member_id, l.consent_reference
        HAVING greatest(count(DISTINCT e.token) FILTER (WHERE e.position = 0), ceil(count(DISTINCT e.token) / 8.0))
            > %s
    ) AS reused
    GROUP BY member_id
"""


# --- credential hygiene --------------------------------------------------------------------------


def credentials(ctx: ReportContext) -> dict[int, SectionData]:
    """Every credential that existed at the end of the period, judged at that moment.

    Last use is the last use known when the report is generated (the platform keeps no older value).
    """
    end_at = ctx.period.end_at
    unused_since = end_at - dt.timedelta(days=CREDENTIAL_UNUSED_DAYS)
    old_before = end_at - dt.timedelta(days=CREDENTIAL_OLD_DAYS)
    out = empty_sections(ctx, {"active": 0, "unused_90_days": 0, "older_than_365_days": 0, "without_ip_allow_list": 0})
    for member_id, prefix, name, scopes, created_at, last_used_at, expires_at, revoked_at, networks in ctx.rows(
        "SELECT institution_id, prefix, name, scopes, created_at, last_used_at, expires_at, revoked_at, "
        "cardinality(allowed_ips) FROM members_credential "
        "WHERE institution_id = ANY(%s) AND created_at < %s ORDER BY institution_id, created_at, id",
        [ctx.member_ids, end_at],
    ):
        if revoked_at is not None and revoked_at < end_at:
            state = "revoked"
        elif expires_at is not None and expires_at <= end_at:
            state = "expired"
        else:
            state = "active"
        unused = last_used_at is None or last_used_at < unused_since
        old = created_at < old_before
        open_to_all = networks == 0
        data = out[member_id]
        data.rows.append(
            [prefix, name, ",".join(scopes), state, created_at, last_used_at, expires_at, unused, old, open_to_all]
        )
        if state == "active":
            data.summary["active"] += 1
            data.summary["unused_90_days"] += unused
            data.summary["older_than_365_days"] += old
            data.summary["without_ip_allow_list"] += open_to_all
    return out


# --- monthly volumes (the chart) -----------------------------------------------------------------


def volumes(ctx: ReportContext) -> dict[int, SectionData]:
    """Records accepted and lookups per month, for the 12 months ending with the period's last month."""
    p = ctx.period
    start_at = business_day_start(p.volume_start)
    months: list[str] = []
    year, month = p.volume_start.year, p.volume_start.month
    while dt.date(year, month, 1) < p.end:
        months.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    table: dict[int, dict[str, list[int]]] = defaultdict(lambda: {m: [0, 0, 0] for m in months})
    for member_id, month_key, accepted in ctx.rows(
        "SELECT member_id, to_char(created_at AT TIME ZONE %s, 'YYYY-MM'), sum(accepted) FROM sharing_batch "
        "WHERE member_id = ANY(%s) AND created_at >= %s AND created_at < %s GROUP BY 1, 2",
        [settings.TIME_ZONE, ctx.member_ids, start_at, p.end_at],
    ):
        table[member_id][month_key][0] = int(accepted)
    for member_id, month_key, count, identifiers in ctx.rows(
        "SELECT member_id, to_char(created_at AT TIME ZONE %s, 'YYYY-MM'), count(*), sum(identifiers) "
        "FROM sharing_lookup WHERE member_id = ANY(%s) AND created_at >= %s AND created_at < %s GROUP BY 1, 2",
        [settings.TIME_ZONE, ctx.member_ids, start_at, p.end_at],
    ):
        table[member_id][month_key][1:] = [count, int(identifiers)]
    out = {}
    for member_id in ctx.member_ids:
        by_month = table[member_id]
        out[member_id] = SectionData(
            rows=[[m, *by_month[m]] for m in months], summary={"first_month": months[0], "last_month": months[-1]}
        )
    return out


# --- disputes --------------------------------------------------------------------------------------


def disputes(ctx: ReportContext) -> dict[int, SectionData]:
    """Disputes against the member's records received or settled in the period.

    A dispute counts against every member whose records it marked; settling is judged against the
    due date (20 calendar days after receipt). The filer is never named.
    """
    p = ctx.period
    base = {
        "received": 0,
        "settled": 0,
        "corrected": 0,
        "confirmed": 0,
        "unverifiable": 0,
        "median_days_to_settle": None,
        "settled_past_limit": 0,
        "open_past_limit_at_period_end": 0,
        "corrected_rate": None,
    }
    out = empty_sections(ctx, base)
    last_day = p.end - dt.timedelta(days=1)
    days: dict[int, list[int]] = defaultdict(list)
    for member_id, dispute_id, received_on, due_date, status, settled_on in ctx.rows(
        "SELECT DISTINCT r.reporting_member_id, d.id, (d.received_at AT TIME ZONE %s)::date, d.due_date, "
        "CASE WHEN d.settled_at < %s THEN d.status ELSE 'open' END, "
        "CASE WHEN d.settled_at < %s THEN (d.settled_at AT TIME ZONE %s)::date END "
        "FROM sharing_disputedrecord r JOIN sharing_dispute d ON d.id = r.dispute_id "
        "WHERE r.reporting_member_id = ANY(%s) AND d.received_at < %s "
        "AND (d.received_at >= %s OR d.settled_at >= %s OR d.settled_at IS NULL) "
        "ORDER BY 1, 2",
        [settings.TIME_ZONE, p.end_at, p.end_at, settings.TIME_ZONE, ctx.member_ids, p.end_at, p.start_at, p.start_at],
    ):
        data, summary = out[member_id], out[member_id].summary
        settled_in_period = settled_on is not None and settled_on >= p.start
        days_taken = (settled_on - received_on).days if settled_on is not None else None
        past_limit = (settled_on or last_day) > due_date
        data.rows.append([dispute_id, received_on, due_date, status, settled_on, days_taken, past_limit])
        if received_on >= p.start:
            summary["received"] += 1
        if settled_in_period:
            summary["settled"] += 1
            summary[status] += 1
            summary["settled_past_limit"] += past_limit
            days[member_id].append(days_taken)
        elif settled_on is None and past_limit:
            summary["open_past_limit_at_period_end"] += 1
    for member_id, data in out.items():
        taken = days.get(member_id)
        data.summary["median_days_to_settle"] = statistics.median(taken) if taken else None
        data.summary["corrected_rate"] = ratio(data.summary["corrected"], data.summary["settled"])
    return out


# --- retention -------------------------------------------------------------------------------------


def retention(ctx: ReportContext) -> dict[int, SectionData]:
    """Records purged in the period (from the purge tombstones) and records past retention still held."""
    p = ctx.period
    out = empty_sections(ctx, {"records_purged": 0, "past_retention_still_present": 0})
    for member_id, purged_on, records in ctx.rows(
        "SELECT key::bigint, (a.occurred_at AT TIME ZONE %s)::date, sum(value::int) "
        "FROM members_auditevent a CROSS JOIN LATERAL jsonb_each_text(a.payload->'by_member') "
        "WHERE a.action = 'retention.records_purged' AND a.occurred_at >= %s AND a.occurred_at < %s "
        "AND key::bigint = ANY(%s) GROUP BY 1, 2 ORDER BY 1, 2",
        [settings.TIME_ZONE, p.start_at, p.end_at, ctx.member_ids],
    ):
        out[member_id].rows.append([purged_on, int(records)])
        out[member_id].summary["records_purged"] += int(records)
    # Judged on the period's last day: what the daily purge should have removed by then and is still here.
    held = records_past_retention(member_ids=ctx.member_ids, today=p.end - dt.timedelta(days=1))
    for member_id, count in held.items():
        out[member_id].summary["past_retention_still_present"] = count
    return out


SECTIONS: list[Section] = [
    Section(
        "submissions",
        _("Submissions"),
        [Column("rejection_code", _("Rejection code")), Column("records_rejected", _("Records rejected"), "int")],
        submissions,
        {
            "batches": _("Batches"),
            "records_received": _("Records received"),
            "records_accepted": _("Records accepted"),
            "records_rejected": _("Records rejected"),
            "rejection_rate": _("Rejection rate"),
            "records_updated": _("Records updated"),
            "records_resolved": _("Records resolved"),
            "records_retracted": _("Records retracted"),
        },
    ),
    Section(
        "timeliness",
        _("Timeliness"),
        [
            Column("category", _("Category")),
            Column("reported", _("Delinquency records reported"), "int"),
            Column("reported_late", _("Reported over 30 days after the event"), "int"),
            Column("late_share", _("Late share"), "ratio"),
        ],
        timeliness,
        {
            "delinquencies_reported": _("Delinquency records reported"),
            "reported_late": _("Reported over 30 days after the event"),
            "late_share": _("Late share"),
        },
    ),
    Section(
        "lookups",
        _("Lookups"),
        [
            Column("credential", _("Credential")),
            Column("purpose", _("Purpose")),
            Column("lookups", _("Lookups"), "int"),
            Column("identifiers", _("Identifiers looked up"), "int"),
            Column("hits", _("Hits"), "int"),
            Column("hit_ratio", _("Hit ratio"), "ratio"),
            Column("without_consent", _("Without a required consent reference"), "int"),
        ],
        lookups,
        {
            "lookups": _("Lookups"),
            "identifiers": _("Identifiers looked up"),
            "hits": _("Hits"),
            "hit_ratio": _("Hit ratio"),
            "consent_required_lookups": _("Lookups whose purpose needs consent"),
            "lookups_without_consent": _("Without a required consent reference (must be 0)"),
            "quota_refusals": _("Requests refused over the lookup limits"),
            "enumeration_flags": _("Enumeration flags"),
            "consent_references_reused": _("Consent references used for more subjects than one consent covers"),
        },
    ),
    Section(
        "credentials",
        _("Credential hygiene"),
        [
            Column("prefix", _("Credential")),
            Column("name", _("Name")),
            Column("scopes", _("Scopes")),
            Column("state", _("State at period end")),
            Column("created_at", _("Created at"), "datetime"),
            Column("last_used_at", _("Last used at"), "datetime"),
            Column("expires_at", _("Expires at"), "datetime"),
            Column("unused_90_days", _("Not used in 90 days"), "bool"),
            Column("older_than_365_days", _("Older than 365 days"), "bool"),
            Column("without_ip_allow_list", _("Without an IP allow-list"), "bool"),
        ],
        credentials,
        {
            "active": _("Active credentials"),
            "unused_90_days": _("Active, not used in 90 days"),
            "older_than_365_days": _("Active, older than 365 days"),
            "without_ip_allow_list": _("Active, without an IP allow-list"),
        },
    ),
    Section(
        "volumes",
        _("Monthly volumes"),
        [
            Column("month", _("Month")),
            Column("records_accepted", _("Records accepted"), "int"),
            Column("lookups", _("Lookups"), "int"),
            Column("identifiers", _("Identifiers looked up"), "int"),
        ],
        volumes,
        {"first_month": _("First month"), "last_month": _("Last month")},
    ),
    Section(
        "disputes",
        _("Disputes"),
        [
            Column("dispute", _("Dispute")),
            Column("received_on", _("Received on"), "date"),
            Column("due_date", _("Due date"), "date"),
            Column("status", _("Status at period end")),
            Column("settled_on", _("Settled on"), "date"),
            Column("days_to_settle", _("Days to settle"), "int"),
            Column("past_limit", _("Past the 20-day limit"), "bool"),
        ],
        disputes,
        {
            "received": _("Disputes received against your records"),
            "settled": _("Disputes settled"),
            "corrected": _("Outcome: corrected"),
            "confirmed": _("Outcome: confirmed"),
            "unverifiable": _("Outcome: unverifiable"),
            "corrected_rate": _("Share of settled disputes corrected"),
            "median_days_to_settle": _("Median days to settle"),
            "settled_past_limit": _("Settled after the 20-day limit"),
            "open_past_limit_at_period_end": _("Open past the 20-day limit at period end"),
        },
    ),
    Section(
        "retention",
        _("Retention"),
        [Column("purged_on", _("Purged on"), "date"), Column("records_purged", _("Records purged"), "int")],
        retention,
        {
            "records_purged": _("Records purged in the period"),
            "past_retention_still_present": _("Records past their retention date still present (must be 0)"),
        },
    ),
    MONITORING_SECTION,
    EVALUATIONS_SECTION,
    EXPOSURE_SECTION,
    POLICY_SECTION,
    RELIEF_SECTION,
    PEERS_SECTION,
]
