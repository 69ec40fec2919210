"""Reads of post-loan monitoring, always scoped to the acting member."""

from __future__ import annotations

from django.db.models import Count, Q, QuerySet
from django.utils.translation import gettext as _

from core.clock import business_today
from core.errors import NotFoundError
from sharing.monitoring.models import MonitoringEvent, Watch, WebhookEndpoint


def watch_list(*, member_id: int, expired: bool | None = None) -> QuerySet[Watch]:
    watches = Watch.objects.filter(member_id=member_id).order_by("id")
    if expired is not None:
        today = business_today()
        watches = watches.filter(expires_on__lt=today) if expired else watches.filter(expires_on__gte=today)
    return watches


def watch_get(*, member_id: int, reference: str) -> Watch:
    # Another member's watch is the same 404 as a missing one.
    watch = Watch.objects.filter(member_id=member_id, reference=reference).first()
    if watch is None:
        raise NotFoundError(_("No such watch."))
    return watch


def event_feed(*, member_id: int, after: int, limit: int) -> list[MonitoringEvent]:
    """The member's events after ``after``, ascending. Ids are taken in commit order (sharing.monitoring.events),
    so a member that asks again with the last id it saw gets each event exactly once."""
    return list(
        MonitoringEvent.objects.filter(member_id=member_id, id__gt=after)
        .order_by("id")
        .only("id", "type", "created_at", "watch_reference", "identifier_type", "data")[:limit]
    )


def event_document(event: MonitoringEvent) -> dict:
    """An event as members read it, in the feed and in webhook bodies."""
    return {
        "id": event.id,
        "type": event.type,
        "created_at": event.created_at.isoformat().replace("+00:00", "Z"),
        "watch": event.watch_reference,
        "identifier_type": event.identifier_type,
        "data": event.data,
    }


def endpoint_list(*, member_id: int) -> QuerySet[WebhookEndpoint]:
    return WebhookEndpoint.objects.filter(member_id=member_id, deleted_at__isnull=True).order_by("id")


def endpoint_get(*, member_id: int, endpoint_id: int) -> WebhookEndpoint:
    endpoint = endpoint_list(member_id=member_id).filter(pk=endpoint_id).first()
    if endpoint is None:
        raise NotFoundError(_("No such webhook endpoint."))
    return endpoint


def watch_counts_by_member() -> QuerySet:
    """Operators' view: how many watches each member holds, and how many are active. Never a token."""
    return (
        Watch.objects.values("member__name")
        .annotate(total=Count("id"), active=Count("id", filter=Q(expires_on__gte=business_today())))
        .order_by("member__name")
    )


def endpoints_with_health() -> QuerySet[WebhookEndpoint]:
    """Every endpoint with its dead letters counted (operators' view)."""
    return WebhookEndpoint.objects.annotate(dead=Count("deliveries", filter=Q(deliveries__status="dead")))
