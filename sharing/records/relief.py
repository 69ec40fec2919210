"""The relief rules of the batch contract (sharing.records.contracts): what the types alone cannot say about a
record's relief fields together."""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec

from sharing.common.contracts import Problem, date_problem
from sharing.common.relief import ReliefKind


def relief_problems(record: Any, *, today: dt.date, min_date: dt.date) -> list[Problem]:
    """A relief arrangement's fields together (a ``ReliefFields`` record): its start with it, dates in order, a new
    maturity for an extension, after the loan's own (``maturity_date``, loans only)."""
    unset = msgspec.UNSET
    if record.relief is unset:
        given = (record.relief_start, record.relief_end, record.new_maturity_date)
        return [("/relief", "required")] if any(value is not unset for value in given) else []
    found: list[Problem] = []
    start = record.relief_start
    if start is unset:
        found.append(("/relief_start", "required"))
    else:
        code = date_problem(start, today=today, min_date=min_date) or (
            "relief_order" if start < record.event_date else None
        )
        if code:
            found.append(("/relief_start", code))
    if record.relief_end is not unset:
        code = date_problem(record.relief_end, today=today, min_date=min_date)
        if code is None and start is not unset and record.relief_end < start:
            code = "relief_order"
        if code:
            found.append(("/relief_end", code))
    maturity = record.new_maturity_date
    if record.relief != ReliefKind.EXTENSION:
        if maturity is not unset:
            found.append(("/new_maturity_date", "extension_only"))
    elif maturity is unset:
        found.append(("/new_maturity_date", "required"))
    elif maturity < min_date:
        found.append(("/new_maturity_date", "bad_date"))
    elif (start is not unset and maturity <= start) or (
        getattr(record, "maturity_date", unset) is not unset and maturity <= record.maturity_date
    ):
        found.append(("/new_maturity_date", "relief_order"))
    return found
