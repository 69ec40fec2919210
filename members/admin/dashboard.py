"""The dashboard on the admin index: what needs an operator today, each line a link into a filtered list.

Apps add their panels with ``@dashboard_panel(order)``: a function of the request that returns a
``Panel``, or None where the operator may not see it. members never names another app's panels.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.safestring import SafeString
from django.utils.translation import gettext

from core.clock import business_today
from members.models import Credential, HistoryHold, Institution

LICENCE_WARNING_DAYS = 60
CREDENTIAL_WARNING_DAYS = 30


@dataclass(frozen=True)
class Line:
    label: str
    count: int
    url: str
    # "alert" when the count needs someone now, "warn" when soon; a zero count is always quiet.
    tone: str = "warn"


@dataclass(frozen=True)
class Panel:
    title: str
    lines: list[Line] = field(default_factory=list)
    # Server-drawn content (an SVG chart), already escaped.
    body: SafeString | None = None


_PANELS: list[tuple[int, Callable]] = []


def dashboard_panel(order: int):
    def register(function: Callable) -> Callable:
        _PANELS.append((order, function))
        _PANELS.sort(key=lambda item: item[0])
        return function

    return register


def dashboard_panels(request) -> list[Panel]:
    return [panel for _order, function in _PANELS if (panel := function(request)) is not None]


def changelist_url(model_label: str, **query) -> str:
    app_label, model_name = model_label.split(".")
    url = reverse(f"admin:{app_label}_{model_name}_changelist")
    return f"{url}?{urlencode(query)}" if query else url


@dashboard_panel(5)
def history_panel(request) -> Panel | None:
    """An open hold stops the audit chain and the verifiable log: the first thing an operator must see."""
    if not request.user.has_perm("members.view_historyhold"):
        return None
    held = HistoryHold.objects.filter(released_at__isnull=True).count()
    if not held:
        return None
    line = Line(
        gettext("Histories on hold: nothing is chained or signed until an operator reconciles"),
        held,
        changelist_url("members.historyhold", state="open"),
        tone="alert",
    )
    return Panel(gettext("Histories"), [line])


@dashboard_panel(30)
def members_panel(request) -> Panel | None:
    user = request.user
    lines = []
    today = business_today()
    if user.has_perm("members.view_institution"):
        until = today + dt.timedelta(days=LICENCE_WARNING_DAYS)
        expiring = Institution.objects.filter(
            status=Institution.Status.ACTIVE, licence_expiry__gte=today, licence_expiry__lte=until
        ).count()
        lines.append(
            Line(
                gettext("Active members whose licence expires within %(days)d days") % {"days": LICENCE_WARNING_DAYS},
                expiring,
                changelist_url(
                    "members.institution",
                    status=Institution.Status.ACTIVE,
                    licence_expiry__gte=today.isoformat(),
                    licence_expiry__lte=until.isoformat(),
                ),
            )
        )
    if user.has_perm("members.view_credential"):
        now = timezone.now()
        expiring = Credential.objects.filter(
            revoked_at__isnull=True,
            expires_at__gt=now,
            expires_at__lte=now + dt.timedelta(days=CREDENTIAL_WARNING_DAYS),
        ).count()
        lines.append(
            Line(
                gettext("Valid credentials expiring within %(days)d days") % {"days": CREDENTIAL_WARNING_DAYS},
                expiring,
                changelist_url("members.credential", expiring=str(CREDENTIAL_WARNING_DAYS)),
            )
        )
    return Panel(gettext("Members and credentials"), lines) if lines else None
