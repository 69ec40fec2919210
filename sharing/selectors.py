"""Reads for sharing, scoped to the acting member where they concern records."""

from __future__ import annotations

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import QuerySet
from django.utils.translation import gettext as _

from config.errors import DomainError, NotFoundError
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
