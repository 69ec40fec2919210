"""Retention: what is due, and what should have gone (``sharing.retention.services`` purges it)."""

from __future__ import annotations

import datetime as dt

from django.conf import settings

from core.clock import business_date, business_day_start
from core.partitions import month_bounds, month_of
from core.sql import execute_binary
from sharing.lookups.models import Lookup


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
# Two arms, each read through its own partial index (record_retracted_purge_idx, record_ended_purge_idx: their
# predicates are the arms' first conditions, word for word); the second arm's kinds then sort out the cutoffs.
RECORD_DUE_CONDITION = """
    (status = 'retracted' AND retracted_at < %(retracted_before)s)
    OR (status <> 'retracted' AND (resolved_date IS NOT NULL OR kind = 'blacklist')
        AND coalesce(resolved_date, event_date) <= greatest(%(adverse)s::date, %(loans)s::date)
        AND ((kind = 'delinquency' AND resolved_date <= %(adverse)s)
             OR (kind = 'blacklist' AND coalesce(resolved_date, event_date) <= %(adverse)s)
             OR (kind = 'loan' AND resolved_date <= %(loans)s)))
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


def lookup_log_months_before(today: dt.date) -> dt.datetime:
    """The lookup log goes a whole month at a time: every month that ends by the cutoff, i.e. everything logged
    before the start of the month the cutoff falls in (or before the cutoff itself when it starts a month)."""
    before = lookup_log_before(today)
    return month_bounds(month_of(business_date(before)))[0]


def lookup_log_due(*, today: dt.date) -> int:
    """How many lookups the purge would remove on ``today``."""
    return Lookup.objects.filter(created_at__lt=lookup_log_months_before(today)).count()
