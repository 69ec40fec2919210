"""Bad input is a 4xx problem document on every endpoint, never a 500, and nothing is written."""

from __future__ import annotations

import base64
from urllib.parse import urlencode

import msgspec
import pytest

from sharing.models import Alert, Batch, Dispute, Lookup, Record
from tests.sharing.conftest import blacklist, lookup, new_token, overdue, submit

BAD_UTF8 = b'"\xff\xfe"'


def post(member, path, body: bytes, content_type="application/json", **extra):
    return member.client().generic("POST", path, body, content_type=content_type, **extra)


def problem_of(response, status: int) -> dict:
    assert response.status_code == status, response.content[:500]
    assert response["Content-Type"] == "application/problem+json"
    return response.json()


@pytest.fixture
def record_b1(member_a, key_v1):
    assert submit(member_a, [blacklist(reference="B1")]).json()["accepted"] == 1


@pytest.fixture
def alert(member_a, member_b, key_v1):
    token = new_token()
    submit(member_a, [blacklist([token])])
    body = {"identifiers": [{"type": "cn_resident_id", "token": token}], "key_version": 1, "reason": "Not me."}
    assert post(member_b, "/api/v1/disputes", msgspec.json.encode(body)).status_code == 201
    return Alert.objects.get(member=member_a.institution)


def test_invalid_utf8_inside_a_json_string_is_a_parse_error(member_a, key_v1):
    batch = b'{"records": [{"reference": ' + BAD_UTF8 + b"}]}"
    response = post(member_a, "/api/v1/batches", batch, HTTP_IDEMPOTENCY_KEY="utf8")
    assert problem_of(response, 400)["code"] == "parse_error"
    body = (
        b'{"purpose": "fraud_investigation", "key_version": 1, "consent_reference": '
        + BAD_UTF8
        + b', "identifiers": [{"type": "cn_mobile", "token": "'
        + new_token().encode()
        + b'"}]}'
    )
    assert problem_of(post(member_a, "/api/v1/lookups", body), 400)["code"] == "parse_error"
    assert not Batch.objects.exists() and not Lookup.objects.exists()


@pytest.mark.parametrize("days", [2**31, 2**63, 10**30])
def test_huge_overdue_days_are_a_record_error_and_the_retry_answers_the_same(member_a, key_v1, days):
    body = msgspec.json.encode({"records": [overdue(overdue_days=days), blacklist()]})
    first = post(member_a, "/api/v1/batches", body, HTTP_IDEMPOTENCY_KEY="huge")
    assert first.status_code == 202, first.content
    assert [(e["index"], e["field"], e["code"]) for e in first.json()["errors"]] == [(0, "/overdue_days", "max_value")]
    again = post(member_a, "/api/v1/batches", body, HTTP_IDEMPOTENCY_KEY="huge")
    assert again.status_code == 202 and again.json() == first.json()
    assert Record.objects.count() == 1


def _cursor(**values) -> str:
    return base64.b64encode(urlencode(values).encode()).decode()


@pytest.mark.parametrize(
    "path",
    [
        f"/api/v1/records?cursor={_cursor(p='not-a-date')}",
        f"/api/v1/records?cursor={_cursor(p='2026-01-01')}",  # a time without its zone
        f"/api/v1/alerts?cursor={_cursor(p='abc')}",
        f"/api/v1/disputes?cursor={_cursor(p='1e400')}",
        f"/api/v1/disputes?cursor={_cursor(p=str(2**63))}",
        f"/api/v1/reports?cursor={_cursor(p='١٢')}",  # digits, but not ASCII ones
    ],
)
def test_tampered_cursors_are_invalid_cursor(member_a, key_v1, path):
    assert problem_of(member_a.client().get(path), 400)["code"] == "invalid_cursor"


def test_a_cursor_the_api_gave_still_pages(member_a, key_v1):
    submit(member_a, [blacklist() for _ in range(3)])
    first = member_a.client().get("/api/v1/records?page_size=2").json()
    second = member_a.client().get(first["next"])
    assert second.status_code == 200 and len(second.json()["results"]) == 1


@pytest.mark.parametrize("date", ["２０２６-01-05", "0001-01-01", "1989-12-31", "2026-1-5"])
def test_resolve_refuses_the_dates_a_batch_refuses(member_a, record_b1, date):
    response = post(member_a, "/api/v1/records/B1/resolve", msgspec.json.encode({"resolved_date": date}))
    assert problem_of(response, 400)["code"] == "bad_date"
    assert Record.objects.get(reference="B1").status == "active"


@pytest.mark.parametrize(
    "path,body",
    [
        ("/api/v1/records/B1/resolve", {"resolved_date": "2025-06-01", "note": "x"}),
        ("/api/v1/records/B1/retract", {"reason": "wrong person", "note": "x"}),
        ("/api/v1/lookups", {"purpose": "fraud_investigation", "key_version": 1, "identifiers": [], "note": "x"}),
        ("/api/v1/disputes", {"identifiers": [], "key_version": 1, "reason": "x", "note": "x"}),
    ],
)
def test_unknown_fields_are_refused_and_named_in_every_body(member_a, record_b1, path, body):
    errors = problem_of(post(member_a, path, msgspec.json.encode(body)), 400)["errors"]
    assert {"field": "/note", "code": "unknown_field"} in [{k: e[k] for k in ("field", "code")} for e in errors]
    assert Record.objects.get(reference="B1").status == "active"


def test_acknowledging_takes_no_body_or_an_empty_object_and_nothing_else(member_a, alert):
    path = f"/api/v1/alerts/{alert.pk}/ack"
    refused = post(member_a, path, b'{"note": "x"}')
    assert problem_of(refused, 400)["errors"][0]["field"] == "/note"
    assert problem_of(post(member_a, path, b"[]"), 400)["code"] == "invalid_type"
    alert.refresh_from_db()
    assert alert.acknowledged_at is None
    assert post(member_a, path, b"{}").status_code == 200
    assert member_a.client().post(path).status_code == 200


@pytest.mark.parametrize("consent", [" ", "\u200b", "\u3000", "-", "x\n", "\u200babc\u200b", "ab\x00cd", "x" * 201])
@pytest.mark.parametrize("purpose", ["credit_application", "account_opening"])
def test_a_consent_reference_must_say_something(member_a, key_v1, consent, purpose):
    response = lookup(member_a, [new_token()], purpose=purpose, consent=consent)
    assert problem_of(response, 400)["code"] == "consent_required"
    assert not Lookup.objects.exists()


def test_a_consent_reference_is_stored_trimmed(member_a, key_v1):
    assert lookup(member_a, [new_token()], consent="\u200b\u3000FORM-12 \u2060").status_code == 200
    assert Lookup.objects.get().consent_reference == "FORM-12"


DEEP = b"[" * 100_000 + b"]" * 100_000


@pytest.mark.parametrize(
    "path", ["/api/v1/disputes", "/api/v1/records/B1/resolve", "/api/v1/records/B1/retract", "/api/v1/lookups"]
)
def test_every_body_meets_the_same_parser_and_size_limit(member_a, record_b1, settings, path):
    assert problem_of(post(member_a, path, DEEP), 400)["code"] == "parse_error"
    assert problem_of(post(member_a, path, b"{oops"), 400)["code"] == "parse_error"
    assert problem_of(post(member_a, path, b"{}", content_type="text/plain"), 415)["code"] == "unsupported_media_type"
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    assert problem_of(post(member_a, path, b" " * 2000 + b"{}"), 413)["code"] == "payload_too_large"
    assert not Dispute.objects.exists() and Record.objects.get(reference="B1").status == "active"


def test_the_acknowledgement_body_meets_them_too(member_a, alert, settings):
    path = f"/api/v1/alerts/{alert.pk}/ack"
    assert problem_of(post(member_a, path, DEEP), 400)["code"] == "parse_error"
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    assert problem_of(post(member_a, path, b" " * 2000 + b"{}"), 413)["code"] == "payload_too_large"


def test_lookup_answers_are_not_stored_by_caches(member_a, key_v1):
    answer = lookup(member_a, [new_token()])
    assert answer.status_code == 200 and answer["Cache-Control"] == "no-store"
    past = member_a.client().get(f"/api/v1/lookups/{answer.json()['id']}")
    assert past.status_code == 200 and past["Cache-Control"] == "no-store"


def test_a_key_version_as_a_string_is_refused_in_disputes_as_elsewhere(member_a, key_v1):
    body = {"identifiers": [{"type": "cn_mobile", "token": new_token()}], "key_version": "1", "reason": "x"}
    errors = problem_of(post(member_a, "/api/v1/disputes", msgspec.json.encode(body)), 400)["errors"]
    assert [(e["field"], e["code"]) for e in errors] == [("/key_version", "invalid_type")]


@pytest.mark.parametrize("size", ["null", "0", "-3", "1001", "2.5", "１"])
def test_a_page_size_out_of_its_range_is_refused_not_replaced(member_a, key_v1, size):
    response = member_a.client().get(f"/api/v1/records?page_size={size}")
    assert problem_of(response, 400)["code"] == "bad_page_size"
