"""Request ids, logs, /metrics and the rate-limit headers, as an operator and a member see them."""

from __future__ import annotations

import io
import json
import logging
import re

import pytest
from rest_framework.test import APIClient

from core.middleware import RequestIdLogFilter
from tests.sharing.conftest import blacklist, lookup, new_token, submit

METRICS_TOKEN = "metrics-token-for-tests-0123456789abcdef"


def anonymous(**headers) -> APIClient:
    return APIClient(headers=headers)


# --- request ids -------------------------------------------------------------------


def test_a_request_id_is_generated_returned_and_put_in_problem_documents(db):
    response = anonymous().get("/api/v1/me")
    assert response.status_code == 401
    generated = response["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", generated)
    assert response.json()["request_id"] == generated
    assert anonymous().get("/healthz")["X-Request-ID"] != generated


def test_a_valid_client_request_id_is_kept_and_an_invalid_one_replaced(db):
    mine = "lender-7f3a:2026/12/01#42"
    response = anonymous(**{"X-Request-ID": mine}).get("/api/v1/no-such-thing")
    assert response.status_code == 404
    assert response["X-Request-ID"] == mine
    assert response.json()["request_id"] == mine
    for bad in ("has space", "x" * 129, "tab\there", "中文"):
        replaced = anonymous(**{"X-Request-ID": bad}).get("/healthz")["X-Request-ID"]
        assert replaced != bad and re.fullmatch(r"[0-9a-f]{32}", replaced)


@pytest.fixture
def json_log():
    """The production log format, on the root logger, for one test."""
    from django.conf import settings
    from django.utils.module_loading import import_string

    spec = settings.LOGGING["formatters"]["json"]
    formatter = import_string(spec["()"])(**{key: value for key, value in spec.items() if key != "()"})
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    handler.addFilter(RequestIdLogFilter())
    root = logging.getLogger()
    root.addHandler(handler)
    before = root.level
    root.setLevel(logging.DEBUG)
    yield stream
    root.setLevel(before)
    root.removeHandler(handler)


def test_log_lines_are_json_with_the_request_id_and_hold_no_key_or_token(member_a, key_v1, json_log, settings):
    settings.DEBUG = False
    token = new_token()
    assert submit(member_a, [blacklist([token])]).status_code == 202
    assert lookup(member_a, [token]).status_code == 200
    wrong_key = member_a.key[:-4] + "AAAA"
    refused = anonymous(Authorization=f"Bearer {wrong_key}").get("/api/v1/me")
    missing = member_a.client().get("/api/v1/lookups/999999")
    assert refused.status_code == 401 and missing.status_code == 404

    lines = [json.loads(line) for line in json_log.getvalue().splitlines()]
    assert lines, "the requests logged nothing"
    assert {"time", "level", "logger", "request_id", "message"} <= set(lines[0])
    assert lines[0]["time"].endswith("+00:00")
    not_found = [line for line in lines if line["message"].startswith("Not Found")]
    assert not_found and not_found[-1]["request_id"] == missing["X-Request-ID"]
    text = json_log.getvalue()
    for secret in (member_a.key, wrong_key, member_a.key.split("_")[-1], token):
        assert secret not in text


# --- metrics -----------------------------------------------------------------------


def test_metrics_need_the_operator_token(db, settings):
    settings.DEBUG = False
    settings.RISKSHARE_METRICS_TOKEN = ""
    assert anonymous().get("/metrics").status_code == 404  # disabled in production without a token
    settings.RISKSHARE_METRICS_TOKEN = METRICS_TOKEN
    refused = anonymous().get("/metrics")
    assert refused.status_code == 401 and refused["Content-Type"] == "application/problem+json"
    assert anonymous(Authorization="Bearer wrong").get("/metrics").status_code == 401


def metric(text: str, name: str, default: float | None = None, **labels) -> float:
    wanted = ",".join(f'{key}="{value}"' for key, value in sorted(labels.items()))
    pattern = rf"^{name}(?:\{{{re.escape(wanted)}\}})? (\S+)$" if labels else rf"^{name} (\S+)$"
    match = re.search(pattern, text, re.M)
    if match is None and default is not None:
        return default
    assert match, f"{name}{labels} not in the metrics:\n{text}"
    return float(match.group(1))


def test_metrics_count_requests_by_route_and_show_what_the_platform_holds(member_a, key_v1, settings):
    settings.RISKSHARE_METRICS_TOKEN = METRICS_TOKEN
    scrape = anonymous(Authorization=f"Bearer {METRICS_TOKEN}")
    before = scrape.get("/metrics").content.decode()
    # Counted per process, across this test run: what this test adds is what it checks.
    base = metric(before, "riskshare_http_requests_total", 0.0, route="/api/v1/me", method="GET", status="200")
    member_a.client().get("/api/v1/me")
    member_a.client().get(f"/api/v1/records/{'R-secret-reference'}")  # a path label would leak it
    assert submit(member_a, [blacklist(), blacklist(kind="nonsense")]).status_code == 202
    assert lookup(member_a, [new_token(), new_token()]).status_code == 200

    response = scrape.get("/metrics")
    assert response.status_code == 200
    text = response.content.decode()
    assert metric(text, "riskshare_http_requests_total", route="/api/v1/me", method="GET", status="200") == base + 1
    assert "R-secret-reference" not in text
    assert 'riskshare_http_request_duration_seconds_bucket{le="0.005",method="POST",route="/api/v1/lookups"}' in text
    assert metric(text, "riskshare_batches_unmatched") == 1  # tasks run after commit; none here
    assert metric(text, "riskshare_matching_lag_seconds") >= 0
    assert metric(text, "riskshare_batch_records_last_day", outcome="accepted") == 1
    assert metric(text, "riskshare_batch_records_last_day", outcome="rejected") == 1
    assert metric(text, "riskshare_lookups_last_hour", purpose="credit_application") == 1
    assert metric(text, "riskshare_lookup_identifiers_last_hour", purpose="credit_application") == 2
    assert metric(text, "riskshare_lookup_quota_refusals_today", window="minute") == 0
    assert metric(text, "riskshare_disputes_open", clock="overdue") == 0


# --- rate limits ---------------------------------------------------------------------


def test_lookups_carry_ratelimit_headers_and_me_shows_what_remains(member_a, key_v1, settings):
    settings.RISKSHARE_LOOKUP_REQUESTS_PER_MINUTE = 50
    settings.RISKSHARE_LOOKUP_IDENTIFIERS_PER_DAY = 1000
    first = lookup(member_a, [new_token(), new_token(), new_token()])
    assert first["RateLimit-Policy"] == '"minute";q=50;w=60, "day";q=1000;w=86400;qu="identifiers"'
    remaining = re.fullmatch(r'"minute";r=(\d+);t=(\d+), "day";r=(\d+);t=(\d+)', first["RateLimit"])
    assert remaining and int(remaining[1]) == 49 and int(remaining[3]) == 997
    assert 0 < int(remaining[2]) <= 60 and 0 < int(remaining[4]) <= 86400
    second = lookup(member_a, [new_token()])
    assert second["RateLimit"].startswith('"minute";r=48;')
    quota = member_a.client().get("/api/v1/me").json()["lookup_quota"]
    assert quota["identifiers_per_day"]["limit"] == 1000
    assert quota["identifiers_per_day"]["remaining"] == 996
    assert quota["requests_per_minute"]["remaining"] in (48, 50)  # 50 if the minute turned meanwhile
