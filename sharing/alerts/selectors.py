"""Reads of alerts, scoped to the member they were sent to."""

from __future__ import annotations

from django.db.models import QuerySet
from django.utils.translation import gettext as _

from core.errors import NotFoundError
from sharing.alerts.models import Alert


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
