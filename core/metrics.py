"""Prometheus metrics at ``/metrics``.

Two kinds, counted two ways:

- what requests do (by route and status, with latency histograms) is counted in the
  process that served them. Under gunicorn's several workers each has its own counters,
  so with ``PROMETHEUS_MULTIPROC_DIR`` set (an empty directory, emptied at each start)
  prometheus-client's multiprocess mode writes them to files there and a scrape adds up
  every worker's; without it (runserver, one process) they live in memory.
- what the platform holds (batches and their records, the matching lag, lookups and
  identifiers by purpose, quota refusals, the dispute clock) is read from PostgreSQL at
  scrape time by the collectors named in ``RISKSHARE_METRICS_COLLECTORS``: the database
  is the truth every worker shares, so these figures are the same whichever worker
  answers, survive restarts, and cost nothing on the request path.

``RISKSHARE_METRICS_TOKEN`` set: the scraper sends ``Authorization: Bearer <token>``.
Unset: open in development, absent (404) in production.
"""

from __future__ import annotations

import hmac
import os
from functools import cache

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.registry import Collector

REQUESTS = Counter(
    "riskshare_http_requests",
    "HTTP requests answered, by route pattern, method and status code.",
    ["route", "method", "status"],
)
LATENCY = Histogram(
    "riskshare_http_request_duration_seconds",
    "Time from the first middleware to the answer, by route pattern and method.",
    ["route", "method"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)


def _route(request: HttpRequest) -> str:
    # The URL pattern, never the path: paths carry member references, and would be unbounded labels.
    match = getattr(request, "resolver_match", None)
    if match is None or not match.url_name:
        return "unmatched"
    return "/" + match.route


def request_observe(request: HttpRequest, status: int, seconds: float) -> None:
    route = _route(request)
    if route == "/metrics":
        return
    REQUESTS.labels(route, request.method, str(status)).inc()
    LATENCY.labels(route, request.method).observe(seconds)


class _DatabaseCollector(Collector):
    """Runs the configured collectors (functions yielding metric families) at each scrape."""

    def collect(self):
        for path in settings.RISKSHARE_METRICS_COLLECTORS:
            yield from import_string(path)()


@cache
def _database_registry() -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_DatabaseCollector())
    return registry


def _process_registry() -> CollectorRegistry:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return registry
    return REGISTRY


def _authorised(request: HttpRequest) -> bool | None:
    """True to serve, False for 401, None for 404 (metrics disabled)."""
    token = settings.RISKSHARE_METRICS_TOKEN
    if not token:
        return True if settings.DEBUG else None
    scheme, _sep, presented = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(presented.strip().encode(), token.encode())


def metrics_view(request: HttpRequest) -> HttpResponse:
    from core import api

    allowed = _authorised(request)
    if allowed is None:
        return api.page_not_found(request)
    if not allowed:
        body = api.problem(
            status_code=401,
            code="not_authenticated",
            title=_("Authentication required"),
            detail=_("Send the metrics token as Authorization: Bearer <token>."),
        )
        return JsonResponse(
            body, status=401, content_type=api.PROBLEM_CONTENT_TYPE, headers={"WWW-Authenticate": "Bearer"}
        )
    body = generate_latest(_process_registry()) + generate_latest(_database_registry())
    return HttpResponse(body, content_type=CONTENT_TYPE_LATEST)
