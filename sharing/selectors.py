"""Reads for sharing, scoped to the acting member where they concern records."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import QuerySet
from django.utils.translation import gettext as _

from core.clock import business_day_start
from core.errors import DomainError, NotFoundError
from core.sql import execute_binary
from sharing.models import Alert, Batch, ConsortiumKey, Dispute, Lookup, Record, Report


def key_versions() -> tuple[frozenset[int], frozenset[int]]:
    """The current and the retired consortium key versions (one query, for a whole batch)."""
    current, retired = set(), set()
    for version, state in ConsortiumKey.objects.values_list("version", "state"):
        (current if state == ConsortiumKey.State.CURRENT else retired).add(version)
    return frozenset(current), frozenset(retired)


def key_version_cache_key(version: int) -> str:
    return f"riskshare:key-version:{int(version)}"


def cached_forget(key: str) -> None:
    """Drop a cached value now, and again after commit (a reader may cache the old value in between)."""
    cache.delete(key)
    transaction.on_commit(lambda: cache.delete(key))


def key_version_require_current(*, version: int, field: str = "/key_version") -> None:
    """Refuse a submission or lookup that names an unknown or retired key version.

    Read through a cache of a few seconds: a retirement applies to lookups within that time.
    """
    cache_key = key_version_cache_key(version)
    state = cache.get(cache_key)
    if state is None:
        state = ConsortiumKey.objects.filter(version=version).values_list("state", flat=True).first() or "unknown"
        cache.set(cache_key, state, settings.RISKSHARE_SETTINGS_CACHE_SECONDS)
    if state == ConsortiumKey.State.CURRENT:
        return
    if state == "unknown":
        raise DomainError(
            _("Key version %(v)s is unknown to the platform.") % {"v": version}, code="unknown_key_version", field=field
        )
    raise DomainError(
        _("Key version %(v)s has been retired; tokenize with a current key.") % {"v": version},
        code="retired_key_version",
        field=field,
    )


def batch_get(*, member_id: int, batch_id: int) -> Batch:
    """A batch of this member; another member's batch is the same 404 as a missing one."""
    batch = Batch.objects.filter(pk=batch_id, member_id=member_id).first()
    if batch is None:
        raise NotFoundError(_("No batch with this id."))
    return batch


def record_get(*, member_id: int, reference: str) -> Record:
    record = Record.objects.filter(member_id=member_id, reference=reference).first()
    if record is None:
        raise NotFoundError(_("No record with this reference."))
    return record


def record_list(
    *, member_id: int, kind: str | None = None, status: str | None = None, updated_since=None
) -> QuerySet[Record]:
    records = Record.objects.filter(member_id=member_id)
    if kind:
        records = records.filter(kind=kind)
    if status:
        records = records.filter(status=status)
    if updated_since is not None:
        records = records.filter(updated_at__gte=updated_since)
    return records


def lookup_get(*, member_id: int, lookup_id: int) -> Lookup:
    """A past lookup of this member; anyone else's is the same 404 as a missing one."""
    lookup = Lookup.objects.filter(pk=lookup_id, member_id=member_id).first()
    if lookup is None:
        raise NotFoundError(_("No lookup with this id."))
    return lookup


def dispute_list(*, member_id: int) -> QuerySet[Dispute]:
    """Disputes this member filed, newest first."""
    return Dispute.objects.filter(member_id=member_id)


def dispute_get(*, member_id: int, dispute_id: int) -> Dispute:
    """A dispute this member filed; anyone else's is the same 404 as a missing one."""
    dispute = Dispute.objects.filter(pk=dispute_id, member_id=member_id).first()
    if dispute is None:
        raise NotFoundError(_("No dispute with this id."))
    return dispute


def alert_list(*, member_id: int, unacknowledged: bool = False) -> QuerySet[Alert]:
    alerts = Alert.objects.filter(member_id=member_id)
    if unacknowledged:
        alerts = alerts.filter(acknowledged_at__isnull=True)
    return alerts


def alert_get(*, member_id: int, alert_id: int) -> Alert:
    alert = Alert.objects.filter(pk=alert_id, member_id=member_id).first()
    if alert is None:
        raise NotFoundError(_("No alert with this id."))
    return alert


def report_list(*, member_id: int) -> QuerySet[Report]:
    """A member's generated reports, newest first, without their files."""
    return Report.objects.filter(member_id=member_id, status=Report.Status.READY).defer("content", "summary")


def report_get(*, member_id: int, report_id: int) -> Report:
    """A generated report of this member; anyone else's is the same 404 as a missing one."""
    report = report_list(member_id=member_id).filter(pk=report_id).first()
    if report is None:
        raise NotFoundError(_("No report with this id."))
    return report


# Retention: what is due, and what should have gone (sharing.services.retention purges it).


def retention_cutoff(today: dt.date, years: int) -> dt.date:
    """The latest end date whose retention of ``years`` is over on ``today``.

    E is purgeable on ``today`` when E <= cutoff. For 29 February the anniversary
    falls on 1 March, so on 28 February of a common year the cutoff is the 28th.
    """
    try:
        return today.replace(year=today.year - years)
    except ValueError:  # today is 29 February, the year ``years`` back has none
        return today.replace(year=today.year - years, day=28)


def record_purge_due(today: dt.date) -> tuple[dt.date, dt.datetime]:
    """(latest adverse-event end date to purge, retraction time before which to purge) on ``today``."""
    adverse = retention_cutoff(today, settings.RISKSHARE_RECORD_RETENTION_YEARS)
    # Retracted on day R: purged from R + 90 on, i.e. retracted before the start of (today - 89).
    retracted_before = business_day_start(today - dt.timedelta(days=settings.RISKSHARE_RETRACTED_RETENTION_DAYS - 1))
    return adverse, retracted_before


# Open loans (no resolved date) are never due; closed ones after RISKSHARE_LOAN_RETENTION_YEARS.
RECORD_DUE_CONDITION = """
    (status = 'retracted' AND retracted_at < %(retracted_before)s)
    OR (status <> 'retracted' AND kind = 'delinquency' AND resolved_date <= %(adverse)s)
    OR (status <> 'retracted' AND kind = 'blacklist' AND coalesce(resolved_date, event_date) <= %(adverse)s)
    OR (status <> 'retracted' AND kind = 'loan' AND resolved_date <= %(loans)s)
"""


def loan_purge_due(today: dt.date) -> dt.date:
    """The latest closing date of a loan to purge on ``today``."""
    return retention_cutoff(today, settings.RISKSHARE_LOAN_RETENTION_YEARS)


def records_past_retention(*, member_ids: list[int], today: dt.date) -> dict[int, int]:
    """Per member, records the purge should have removed by ``today`` and that are still here (should be none)."""
    adverse, retracted_before = record_purge_due(today)
    rows = execute_binary(
        "SELECT member_id, count(*) FROM sharing_record "  # noqa: S608 - only the fixed condition is formatted in
        f"WHERE member_id = ANY(%(members)s) AND ({RECORD_DUE_CONDITION}) GROUP BY member_id",
        {
            "members": member_ids,
            "adverse": adverse,
            "retracted_before": retracted_before,
            "loans": loan_purge_due(today),
        },
        fetch=True,
    )
    return dict(rows)


def lookup_log_before(today: dt.date) -> dt.datetime:
    cutoff = retention_cutoff(today, settings.RISKSHARE_LOOKUP_LOG_RETENTION_YEARS)
    return business_day_start(cutoff + dt.timedelta(days=1))


def lookup_log_due(*, today: dt.date) -> int:
    """How many lookups the purge would remove on ``today``."""
    return Lookup.objects.filter(created_at__lt=lookup_log_before(today)).count()
