"""The business calendar: dates are judged in China (TIME_ZONE), whatever zone a request renders in."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils import timezone


def business_today() -> dt.date:
    return timezone.localdate(timezone=ZoneInfo(settings.TIME_ZONE))
