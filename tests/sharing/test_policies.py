"""Risk-policy disclosure cards: immutable signed versions, the consortium's list and each member's history."""

from __future__ import annotations

import base64
import datetime as dt
from decimal import Decimal

import pytest
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from core.clock import business_today
from members.models import AuditEvent, Institution
from sharing.models import PolicyCard
from sharing.reports.signing import public_key_pem
from tests.conftest import issue


def card(**overrides) -> dict:
    body = {
        "max_credit_line": "200000.00",
        "max_annual_rate": "0.24",
        "multi_lending_decline": {"lenders": 4},
        "post_loan_monitoring": {"watch_all_loans": True, "review_days": 30},
        "collection_policy": "不在 21 时至次日 8 时催收。",
        "effective_from": str(business_today()),
    }
    body.update(overrides)
    return body


def publish(member, **overrides):
    return member.client().post("/api/v1/policies", card(**overrides), format="json")


def test_a_published_card_is_versioned_signed_and_listed_for_every_member(member_a, member_b):
    first = publish(member_a)
    assert first.status_code == 201, first.content
    body = first.json()
    assert body["version"] == 1 and body["member"] == {
        "uscc": member_a.institution.uscc,
        "name": member_a.institution.name,
    }
    assert body["max_annual_rate"] == "0.24" and body["multi_lending_decline"] == {"lenders": 4}
    # The platform's signature over the exact document, with the key reports are signed with.
    key = load_pem_public_key(public_key_pem())
    key.verify(base64.b64decode(body["signature"]), body["signed_document"].encode())
    stored = PolicyCard.objects.get()
    assert stored.max_credit_line == Decimal("200000.00")

    tomorrow = str(business_today() + dt.timedelta(days=1))
    second = publish(member_a, max_annual_rate="0.18", effective_from=tomorrow)
    assert second.status_code == 201 and second.json()["version"] == 2
    # Today the first version is in effect; the list shows one card per member that published one.
    listed = member_b.client().get("/api/v1/policies").json()
    assert [(c["member"]["uscc"], c["version"]) for c in listed] == [(member_a.institution.uscc, 1)]
    versions = member_b.client().get(f"/api/v1/policies/{member_a.institution.uscc}/versions").json()
    assert [v["version"] for v in versions] == [2, 1]
    assert AuditEvent.objects.filter(action="policy_card.published").count() == 2


def test_a_version_may_not_take_effect_before_the_latest_and_nothing_is_written(member_a):
    publish(member_a, effective_from=str(business_today() + dt.timedelta(days=10)))
    refused = publish(member_a, effective_from=str(business_today() + dt.timedelta(days=5)))
    assert refused.status_code == 409 and refused.json()["code"] == "effective_before_current"
    assert PolicyCard.objects.count() == 1


@pytest.mark.parametrize(
    ("overrides", "field", "code"),
    [
        ({"max_annual_rate": "24%"}, "/max_annual_rate", "bad_rate"),
        ({"max_annual_rate": "1.5"}, "/max_annual_rate", "bad_rate"),
        ({"max_credit_line": "-1"}, "/max_credit_line", "bad_decimal"),
        ({"multi_lending_decline": {"lenders": 0}}, "/multi_lending_decline/lenders", "min_value"),
        (
            {"post_loan_monitoring": {"watch_all_loans": "yes", "review_days": 30}},
            "/post_loan_monitoring/watch_all_loans",
            "invalid_type",
        ),
        ({"effective_from": "2020-01-01"}, "/effective_from", "past_date"),
        ({"effective_from": "2099-01-01"}, "/effective_from", "too_far_ahead"),
        ({"collection_policy": ""}, "/collection_policy", "bad_text"),
        ({"partner_list_url": "ftp://x.cn/list"}, "/partner_list_url", "bad_url"),
    ],
)
def test_a_bad_card_is_refused_field_by_field(member_a, overrides, field, code):
    response = publish(member_a, **overrides)
    assert response.status_code == 400, response.content
    assert (field, code) in [(e["field"], e["code"]) for e in response.json()["errors"]]
    assert not PolicyCard.objects.exists()


def test_publishing_needs_the_scope_reading_does_not_and_inactive_members_are_not_listed(member_a, member_b):
    readers = issue(member_a.institution, scopes=["lookups"])
    assert publish(readers).status_code == 403
    assert readers.client().get("/api/v1/policies").status_code == 200
    publish(member_a)
    publish(member_b)
    Institution.objects.filter(pk=member_b.institution.pk).update(status=Institution.Status.SUSPENDED)
    listed = member_a.client().get("/api/v1/policies").json()
    assert [c["member"]["uscc"] for c in listed] == [member_a.institution.uscc]
    assert member_a.client().get("/api/v1/policies/91110108MA01C0DE15/versions").status_code == 404
