"""Everything the platform holds about a person's peppered tokens, as the person's report shows it.

Operators see reporting members anyway; the person sees them by name (their right). Other members never do.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from core.clock import business_today
from sharing.disputes.models import Dispute, DisputedRecord, DisputeToken
from sharing.lookups.models import Lookup, LookupEntry
from sharing.monitoring.models import Watch, WatchToken
from sharing.protection.selectors import registrations_of
from sharing.records.models import Record, RecordIdentifier, RecordKind, RecordStatus
from sharing.subjects.models import SubjectReport, SubjectReportToken

INQUIRY_YEARS = 2
# Not a lookup purpose: how a watch and the person's own report are shown among the inquiries.
POST_LOAN_WATCH = "post_loan_watch"
SUBJECT_OWN = "subject_own"


def _iso(value: dt.date | dt.datetime | None) -> str | None:
    return value.isoformat() if value else None


def _money(value) -> str | None:
    return None if value is None else f"{value:.2f}"


def _relief(record: Record) -> dict[str, Any]:
    """The relief agreed on a loan or a delinquency (展期、延期还款、债务重组), empty codes where there is none."""
    return {
        "relief": record.relief,
        "relief_start": _iso(record.relief_start),
        "relief_end": _iso(record.relief_end),
        "new_maturity_date": _iso(record.new_maturity_date),
    }


def subject_holdings(*, tokens: list[bytes], now: dt.datetime, exclude_report: int | None = None) -> dict[str, Any]:
    """Records, open loans, inquiries of the last two years, watchers, disputes and protective registrations."""
    record_ids = list(RecordIdentifier.objects.filter(token__in=tokens).values_list("record_id", flat=True).distinct())
    records = list(Record.objects.filter(pk__in=record_ids).select_related("member").order_by("event_date", "pk"))
    dispute_ids = set(DisputeToken.objects.filter(token__in=tokens).values_list("dispute_id", flat=True))
    dispute_ids |= set(DisputedRecord.objects.filter(record_id__in=record_ids).values_list("dispute_id", flat=True))
    disputes = list(Dispute.objects.filter(pk__in=dispute_ids).order_by("received_at", "pk"))
    covered: dict[int, list[int]] = {}
    for dispute_id, record_id in DisputedRecord.objects.filter(dispute_id__in=dispute_ids).values_list(
        "dispute_id", "record_id"
    ):
        covered.setdefault(dispute_id, []).append(record_id)
    statements: dict[int, str] = {}
    for dispute in disputes:
        for record_id in covered.get(dispute.pk, []):
            if dispute.statement:
                statements[record_id] = dispute.statement
    adverse = [record for record in records if record.kind != RecordKind.LOAN]
    loans = [
        record
        for record in records
        if record.kind == RecordKind.LOAN and record.status == RecordStatus.ACTIVE and record.resolved_date is None
    ]
    return {
        "records": [
            {
                "number": record.pk,
                "institution": record.member.name,
                "kind": record.kind,
                "category": record.category,
                "status": record.status,
                "event_date": _iso(record.event_date),
                "resolved_date": _iso(record.resolved_date),
                "overdue_days": record.overdue_days,
                "overdue_amount": _money(record.overdue_amount),
                "reported_at": _iso(record.reported_at),
                "updated_at": _iso(record.updated_at),
                "disputed": record.status == RecordStatus.DISPUTED,
                "statement": statements.get(record.pk, ""),
                **_relief(record),
            }
            for record in adverse
        ],
        "loans": [
            {
                "number": record.pk,
                "institution": record.member.name,
                "product": record.product,
                "credit_limit": _money(record.credit_limit),
                "outstanding_balance": _money(record.outstanding_balance),
                "opened": _iso(record.event_date),
                "maturity_date": _iso(record.maturity_date),
                "last_reported": _iso(record.reported_at),
                **_relief(record),
            }
            for record in loans
        ],
        "inquiries": _inquiries(tokens=tokens, now=now, exclude_report=exclude_report),
        "watchers": [
            {"institution": name, "since": _iso(created_at), "until": _iso(expires_on)}
            for name, created_at, expires_on in Watch.objects.filter(
                pk__in=WatchToken.objects.filter(token__in=tokens).values("watch_id"),
                expires_on__gte=business_today(),
            )
            .order_by("created_at")
            .values_list("member__name", "created_at", "expires_on")
        ],
        "disputes": [
            {
                "number": dispute.pk,
                "received_at": _iso(dispute.received_at),
                "due_date": _iso(dispute.due_date),
                "status": dispute.status,
                "settled_at": _iso(dispute.settled_at),
                "records": sorted(covered.get(dispute.pk, [])),
            }
            for dispute in disputes
        ],
        "protective_registrations": [
            {
                "number": registration.pk,
                "reason": registration.reason,
                "since": _iso(registration.registered_at),
                "expires_at": _iso(registration.expires_at),
                "withdrawn_at": _iso(registration.withdrawn_at),
                "in_force": registration.withdrawn_at is None and registration.expires_at > now,
            }
            for registration in registrations_of(tokens=tokens)
        ],
    }


def _inquiries(*, tokens: list[bytes], now: dt.datetime, exclude_report: int | None) -> list[dict[str, Any]]:
    """Every institution's lookup of the person in the last two years, watches begun and the person's own reports."""
    try:
        since = now.replace(year=now.year - INQUIRY_YEARS)
    except ValueError:  # 29 February
        since = now.replace(year=now.year - INQUIRY_YEARS, day=28)
    lookup_ids = LookupEntry.objects.filter(token__in=tokens, created_at__gte=since).values_list("lookup_id", flat=True)
    rows = [
        {"time": _iso(created_at), "institution": name, "purpose": purpose}
        for created_at, name, purpose in Lookup.objects.filter(pk__in=lookup_ids.distinct()).values_list(
            "created_at", "member__name", "purpose"
        )
    ]
    rows += [
        {"time": _iso(created_at), "institution": name, "purpose": POST_LOAN_WATCH}
        for created_at, name in Watch.objects.filter(
            pk__in=WatchToken.objects.filter(token__in=tokens).values("watch_id"), created_at__gte=since
        ).values_list("created_at", "member__name")
    ]
    own = SubjectReport.objects.filter(
        pk__in=SubjectReportToken.objects.filter(token__in=tokens).values("report_id"), issued_at__gte=since
    )
    if exclude_report is not None:
        own = own.exclude(pk=exclude_report)
    rows += [
        {"time": _iso(issued_at), "institution": None, "purpose": SUBJECT_OWN}
        for issued_at in own.values_list("issued_at", flat=True)
    ]
    return sorted(rows, key=lambda row: row["time"], reverse=True)
