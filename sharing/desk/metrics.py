"""What the platform holds, as Prometheus metrics read from PostgreSQL at scrape time (core.metrics).

Every figure is a gauge over a bounded window (in flight, the last hour, the last day, today)
served by an index, so a scrape stays a few cheap statements however long the history grows.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

from django.conf import settings
from django.db.models import Count, Min, Q, Sum
from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily

from core.clock import business_today
from sharing.disputes.models import Dispute
from sharing.lookups.models import Lookup, LookupPurpose, QuotaRefusal, QuotaUsage
from sharing.records.models import Batch

IN_FLIGHT = [Batch.Status.RECEIVED, Batch.Status.PROCESSING]


def collect() -> Iterator[GaugeMetricFamily]:
    now = timezone.now()
    yield from _batches(now)
    yield from _lookups(now)
    yield from _disputes()


def _batches(now: dt.datetime) -> Iterator[GaugeMetricFamily]:
    day = Batch.objects.filter(created_at__gte=now - dt.timedelta(days=1))
    by_status = GaugeMetricFamily(
        "riskshare_batches_last_day", "Batches received in the last 24 hours, by status.", labels=["status"]
    )
    counts = dict(day.values_list("status").annotate(n=Count("id")).order_by())
    for status in Batch.Status.values:
        by_status.add_metric([status], counts.get(status, 0))
    yield by_status

    records = GaugeMetricFamily(
        "riskshare_batch_records_last_day",
        "Records in the batches of the last 24 hours: received, accepted, rejected.",
        labels=["outcome"],
    )
    sums = day.aggregate(received=Sum("received"), accepted=Sum("accepted"), rejected=Sum("rejected"))
    for outcome, value in sums.items():
        records.add_metric([outcome], value or 0)
    yield records

    # The partial index on in-flight batches answers both.
    in_flight = Batch.objects.filter(status__in=IN_FLIGHT).aggregate(n=Count("id"), oldest=Min("created_at"))
    yield GaugeMetricFamily(
        "riskshare_batches_unmatched", "Batches received or processing, not yet matched.", value=in_flight["n"]
    )
    lag = (now - in_flight["oldest"]).total_seconds() if in_flight["oldest"] else 0.0
    yield GaugeMetricFamily(
        "riskshare_matching_lag_seconds", "Age of the oldest batch not yet matched (0 when none waits).", value=lag
    )


def _lookups(now: dt.datetime) -> Iterator[GaugeMetricFamily]:
    rows = {
        purpose: (n, identifiers)
        for purpose, n, identifiers in Lookup.objects.filter(created_at__gte=now - dt.timedelta(hours=1))
        .values_list("purpose")
        .annotate(n=Count("id"), identifiers=Sum("identifiers"))
        .order_by()
    }
    lookups = GaugeMetricFamily(
        "riskshare_lookups_last_hour", "Lookup requests answered in the last hour, by purpose.", labels=["purpose"]
    )
    identifiers = GaugeMetricFamily(
        "riskshare_lookup_identifiers_last_hour",
        "Identifiers looked up in the last hour, by purpose.",
        labels=["purpose"],
    )
    for purpose in LookupPurpose.values:
        n, count = rows.get(purpose, (0, 0))
        lookups.add_metric([purpose], n)
        identifiers.add_metric([purpose], count or 0)
    yield lookups
    yield identifiers

    refused = dict(
        QuotaRefusal.objects.filter(day=business_today()).values_list("window").annotate(n=Sum("refused")).order_by()
    )
    refusals = GaugeMetricFamily(
        "riskshare_lookup_quota_refusals_today",
        "Lookup requests refused (429) today (China business day), by the limit that refused them.",
        labels=["window"],
    )
    for window in QuotaUsage.Window.values:
        refusals.add_metric([window], refused.get(window, 0))
    yield refusals


def _disputes() -> Iterator[GaugeMetricFamily]:
    today = business_today()
    due_soon_from = today + dt.timedelta(days=settings.RISKSHARE_DISPUTE_DAYS - settings.RISKSHARE_DISPUTE_DUE_SOON_DAY)
    open_disputes = Dispute.objects.filter(status=Dispute.Status.OPEN)
    clock = open_disputes.aggregate(
        open=Count("id"),
        overdue=Count("id", filter=Q(due_date__lt=today)),
        due_soon=Count("id", filter=Q(due_date__gte=today, due_date__lte=due_soon_from)),
    )
    family = GaugeMetricFamily(
        "riskshare_disputes_open",
        "Open disputes: all of them, those due within the last days of the period, and those overdue.",
        labels=["clock"],
    )
    for clock_state in ("open", "due_soon", "overdue"):
        family.add_metric([clock_state], clock[clock_state])
    yield family
