"""The business calendar: dates are judged in China (TIME_ZONE), whatever zone a request renders in."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils import timezone


def business_zone() -> ZoneInfo:
    return ZoneInfo(settings.TIME_ZONE)


def business_today() -> dt.date:
    return timezone.localdate(timezone=business_zone())


def business_date(moment: dt.datetime) -> dt.date:
    """The calendar date of ``moment`` in China, not in the zone the current request renders in (UTC for the API)."""
    return timezone.localtime(moment, business_zone()).date()


def business_midnight(moment: dt.datetime) -> dt.datetime:
    """The start of ``moment``'s calendar day in China."""
    return timezone.localtime(moment, business_zone()).replace(hour=0, minute=0, second=0, microsecond=0)


def business_day_start(day: dt.date) -> dt.datetime:
    """The start of calendar day ``day`` in China."""
    return dt.datetime.combine(day, dt.time.min, tzinfo=business_zone())
