"""What every report section is made of: the period, the context of one generation run, a section's data."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.db import connection
from django.utils.functional import Promise

from core.clock import business_day_start, business_zone

# Delinquency reported more than this many days after its event date is late (timeliness, peers).
LATE_REPORTING_DAYS = 30
VOLUME_MONTHS = 12


@dataclass(frozen=True)
class Period:
    """``[start, end)`` in calendar days of Asia/Shanghai."""

    start: dt.date
    end: dt.date

    @property
    def zone(self) -> ZoneInfo:
        return business_zone()

    @property
    def start_at(self) -> dt.datetime:
        return business_day_start(self.start)

    @property
    def end_at(self) -> dt.datetime:
        return business_day_start(self.end)

    @property
    def volume_start(self) -> dt.date:
        """First day of the month 11 months before the period's last month: the chart's 12 months."""
        last = self.end - dt.timedelta(days=1)
        month = last.year * 12 + last.month - 1 - (VOLUME_MONTHS - 1)
        return dt.date(month // 12, month % 12 + 1, 1)


@dataclass
class ReportContext:
    period: Period
    member_ids: list[int]

    def rows(self, sql: str, params: Sequence[Any] | dict[str, Any]) -> list[tuple]:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall()


@dataclass
class SectionData:
    rows: list[list[Any]] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Column:
    key: str
    label: Promise
    kind: str = "text"  # text, int, ratio, date, datetime, bool


@dataclass(frozen=True)
class Section:
    name: str
    title: Promise
    columns: list[Column]
    compute: Callable[[ReportContext], dict[int, SectionData]]
    summary_labels: dict[str, Promise]


def ratio(numerator: int | Decimal | None, denominator: int | Decimal | None) -> float | None:
    """A share rounded to 6 places; None when there is nothing to divide."""
    if not denominator:
        return None
    return round(float(numerator or 0) / float(denominator), 6)


def empty_sections(ctx: ReportContext, summary: dict[str, Any]) -> dict[int, SectionData]:
    return {member_id: SectionData(summary=dict(summary)) for member_id in ctx.member_ids}
