"""Self-inspection reports: generate (one member or many, one snapshot), request for the queue, download.

Every section of every report of one run reads one REPEATABLE READ snapshot; the files are built
outside it, and each report is stored with its audit event in a short transaction of its own.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from core.clock import business_today
from core.errors import DomainError
from core.jobs import job_enqueue
from members.audit import Actor, audit_chain_sequence, audit_event_record
from members.models import Institution
from sharing.reports.base import Period, ReportContext, SectionData
from sharing.reports.files import ReportMeta, report_zip_build
from sharing.reports.log import report_log_section
from sharing.reports.models import Report
from sharing.reports.sections import SECTIONS

logger = logging.getLogger(__name__)

# A pending report not generated after this long is re-enqueued by the sweep.
REPORT_STALE_AFTER = dt.timedelta(minutes=15)


def period_check(*, period_start: dt.date, period_end: dt.date) -> Period:
    """A past period of whole days; one that includes today is allowed and marked incomplete."""
    if period_start >= period_end:
        raise DomainError(_("The period must end after it starts."), code="empty_period", field="/period_end")
    if period_end > business_today() + dt.timedelta(days=1):
        raise DomainError(_("The period must not end in the future."), code="future_period", field="/period_end")
    return Period(period_start, period_end)


def previous_month(today: dt.date | None = None) -> tuple[dt.date, dt.date]:
    today = today or business_today()
    end = today.replace(day=1)
    return (end - dt.timedelta(days=1)).replace(day=1), end


@contextmanager
def _one_snapshot() -> Iterator[None]:
    """A read-only REPEATABLE READ transaction: every query inside sees the same committed data.

    Inside a caller's transaction (the test suite wraps each test in one) the isolation level can no
    longer be chosen; that transaction's own view applies, and the manifest says which level it was.
    """
    outermost = not connection.in_atomic_block
    with transaction.atomic():
        if outermost:
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        yield


def _snapshot() -> dict[str, Any]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_current_snapshot()::text, current_setting('transaction_isolation'), "
            "(SELECT max(id) FROM sharing_batch), (SELECT max(id) FROM sharing_record), "
            "(SELECT max(pgh_id) FROM sharing_recordevent), (SELECT max(id) FROM sharing_lookup), "
            # The chained head (events still waiting for the sequencer have no place yet).
            "(SELECT seq FROM members_auditevent WHERE seq IS NOT NULL ORDER BY seq DESC LIMIT 1), "
            "(SELECT hash FROM members_auditevent WHERE seq IS NOT NULL ORDER BY seq DESC LIMIT 1), now()"
        )
        pg_snapshot, isolation, batch, record, record_event, lookup, seq, head, taken_at = cursor.fetchone()
    return {
        "postgresql_snapshot": pg_snapshot,
        "isolation": isolation,
        "taken_at": taken_at,
        "max_ids": {"batch": batch, "record": record, "record_event": record_event, "lookup": lookup},
        "audit_chain_head": {"seq": seq, "hash": head},
    }


def reports_compute(
    *, member_ids: list[int], period: Period
) -> tuple[dict[str, Any], dict[int, dict[str, SectionData]]]:
    """Every section for every member, set-based, in one snapshot: (snapshot, member → section → data)."""
    ctx = ReportContext(period=period, member_ids=sorted(set(member_ids)))
    # The manifest names the chain's head: the events appended so far get their place first.
    audit_chain_sequence()
    with _one_snapshot():
        snapshot = _snapshot()
        by_section = {section.name: section.compute(ctx) for section in SECTIONS}
    return snapshot, {m: {name: by_section[name][m] for name in by_section} for m in ctx.member_ids}


def reports_generate(
    *, members: list[Institution], period_start: dt.date, period_end: dt.date, actor: Actor
) -> list[Report]:
    """Generate (or regenerate) the reports of ``members`` for one period, all from one snapshot."""
    period = period_check(period_start=period_start, period_end=period_end)
    snapshot, data = reports_compute(member_ids=[member.pk for member in members], period=period)
    generated_at = timezone.now()
    complete = period.end <= business_today()
    reports = []
    for member in members:
        meta = ReportMeta(
            member_id=member.pk,
            member_name=member.name,
            member_uscc=member.uscc,
            period=period,
            complete=complete,
            generated_at=generated_at,
            generated_by=actor.label,
            snapshot=snapshot,
            log=report_log_section(member_id=member.pk, start=period.start_at, end=period.end_at),
        )
        content, summary = report_zip_build(meta, data[member.pk])
        reports.append(
            _report_store(
                member=member, period=period, content=content, summary=summary, generated_at=generated_at, actor=actor
            )
        )
    return reports


def report_generate(*, member: Institution, period_start: dt.date, period_end: dt.date, actor: Actor) -> Report:
    """Generate one member's report for ``[period_start, period_end)``; regenerating replaces the file."""
    return reports_generate(members=[member], period_start=period_start, period_end=period_end, actor=actor)[0]


def _report_store(
    *, member: Institution, period: Period, content: bytes, summary: dict, generated_at: dt.datetime, actor: Actor
) -> Report:
    sha256 = hashlib.sha256(content).hexdigest()
    with transaction.atomic():
        # Insert-if-absent, then lock: two generations of one report serialize on the row.
        Report.objects.bulk_create(
            [Report(member=member, period_start=period.start, period_end=period.end)], ignore_conflicts=True
        )
        report = (
            Report.objects.select_for_update()
            .defer("content", "summary")
            .get(member=member, period_start=period.start, period_end=period.end)
        )
        previous = report.sha256 or None
        changes = {
            "status": Report.Status.READY,
            "content": content,
            "sha256": sha256,
            "size": len(content),
            "summary": summary,
            "generated_at": generated_at,
            "generated_by": actor.label[:200],
        }
        Report.objects.filter(pk=report.pk).update(**changes)
        for name, value in changes.items():
            setattr(report, name, value)
        audit_event_record(
            actor=actor,
            action="report.regenerated" if previous else "report.generated",
            obj=report,
            payload={
                "member_id": member.pk,
                "period_start": period.start,
                "period_end": period.end,
                "sha256": sha256,
                "previous_sha256": previous,
                "size": len(content),
            },
        )
    return report


def reports_request(*, members: list[Institution], period_start: dt.date, period_end: dt.date) -> list[int]:
    """Queue the generation of reports not generated yet: one pending row and one task per member.

    Idempotent: a report that already exists (pending or ready) is not queued again; the sweep
    re-enqueues pending ones a lost message left behind. Returns the ids of the rows created.
    """
    period = period_check(period_start=period_start, period_end=period_end)
    with transaction.atomic():
        before = set(
            Report.objects.filter(member__in=members, period_start=period.start, period_end=period.end).values_list(
                "pk", flat=True
            )
        )
        Report.objects.bulk_create(
            [Report(member=member, period_start=period.start, period_end=period.end) for member in members],
            ignore_conflicts=True,
        )
        created = list(
            Report.objects.filter(member__in=members, period_start=period.start, period_end=period.end)
            .exclude(pk__in=before)
            .values_list("pk", flat=True)
        )
        transaction.on_commit(lambda: _enqueue(created))
    return created


def reports_request_previous_month(*, today: dt.date | None = None) -> list[int]:
    start, end = previous_month(today)
    members = list(Institution.objects.filter(status=Institution.Status.ACTIVE).order_by("pk"))
    return reports_request(members=members, period_start=start, period_end=end)


def report_fill(*, report_id: int, actor: Actor) -> Report | None:
    """Generate a queued report; a report already generated is left alone (a redelivered message)."""
    report = Report.objects.defer("content", "summary").select_related("member").filter(pk=report_id).first()
    if report is None or report.status != Report.Status.PENDING:
        return None
    return report_generate(
        member=report.member, period_start=report.period_start, period_end=report.period_end, actor=actor
    )


def reports_stale(*, now: dt.datetime | None = None) -> list[int]:
    """Pending reports a lost message left behind, touched so that the next sweep skips them a while."""
    now = now or timezone.now()
    cutoff = now - REPORT_STALE_AFTER
    stale = list(
        Report.objects.filter(status=Report.Status.PENDING, requested_at__lt=cutoff).values_list("pk", flat=True)[:500]
    )
    Report.objects.filter(pk__in=stale, status=Report.Status.PENDING).update(requested_at=now)
    return stale


def _enqueue(report_ids: list[int]) -> None:
    # Each row is committed as pending; the sweep enqueues it again if the send fails.
    for report_id in report_ids:
        job_enqueue("sharing.report_generate", report_id)


def report_download(*, report: Report, actor: Actor, channel: str) -> bytes:
    """The report's file; every download is an audit event (who, which file, through which channel)."""
    content = bytes(Report.objects.filter(pk=report.pk).values_list("content", flat=True).get())
    audit_event_record(
        actor=actor,
        action="report.downloaded",
        obj=report,
        payload={
            "member_id": report.member_id,
            "period_start": report.period_start,
            "period_end": report.period_end,
            "sha256": report.sha256,
            "channel": channel,
        },
    )
    return content
