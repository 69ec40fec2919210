"""Risk-policy disclosure cards: immutable signed versions, the consortium's list and each member's history."""

from __future__ import annotations

import base64
import datetime as dt
from decimal import Decimal

import pytest
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from core.clock import business_today
from members.models import AuditEvent, Institution
from sharing.common.signing import public_key_pem
from sharing.models import PolicyCard
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


def relief(**overrides) -> dict:
    return {
        "kinds": ["extension", "deferral"],
        "offered_to": "逾期 30 天以上的借款人",
        "how_to_ask": "客服热线 95xxx，5 个工作日内答复",
        **overrides,
    }


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


def test_a_card_states_the_relief_policy_signed_with_the_rest(member_a, member_b):
    body = publish(member_a, relief_policy=relief()).json()
    assert body["relief_policy"] == relief()
    assert '"relief_policy":{"how_to_ask":"客服热线 95xxx' in body["signed_document"]
    key = load_pem_public_key(public_key_pem())
    key.verify(base64.b64decode(body["signature"]), body["signed_document"].encode())
    stored = PolicyCard.objects.get()
    assert (stored.relief_kinds, stored.relief_eligibility) == (["extension", "deferral"], "逾期 30 天以上的借款人")
    # A card that states none says null, and signs the fields it did before relief existed.
    (listed,) = member_b.client().get("/api/v1/policies").json()
    assert listed["relief_policy"] == relief()
    plain = publish(member_b).json()
    assert plain["relief_policy"] is None and "relief_policy" not in plain["signed_document"]


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
        ({"relief_policy": relief(kinds=["deferral", "forgiveness"])}, "/relief_policy/kinds/1", "invalid_choice"),
        ({"relief_policy": relief(kinds=["deferral", "deferral"])}, "/relief_policy/kinds/1", "duplicate_value"),
        ({"relief_policy": relief(how_to_ask=" ")}, "/relief_policy/how_to_ask", "bad_text"),
        ({"relief_policy": {"kinds": []}}, "/relief_policy/offered_to", "required"),
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


def test_the_report_sets_the_card_beside_its_execution_measured_on_a_seeded_month(member_a, member_b, key_v1, db):
    from django.db import connection

    from sharing.reports.base import ReportContext
    from sharing.reports.policies import policy
    from tests.factories import InstitutionFactory
    from tests.sharing.conftest import loan, lookup, new_token, reported
    from tests.sharing.monitoring.test_watches import put_watches, watch
    from tests.sharing.reports.test_reports import today_period

    assert publish(member_a, max_credit_line="100000.00", multi_lending_decline={"lenders": 2}).status_code == 201
    crowded, large, plain = new_token(), new_token(), new_token()
    member_c = issue(InstitutionFactory())
    reported(member_b, [loan([crowded])])
    reported(member_c, [loan([crowded]), loan([crowded])])  # two loans, one lender
    reported(
        member_a,
        [
            loan([crowded], reference="CROWDED"),  # 2 other lenders: at the card's decline line
            loan([large], reference="LARGE", credit_limit="150000.00"),  # over the card's credit line
            loan([plain], reference="PLAIN"),
        ],
    )
    assert put_watches(member_a, [watch("W-PLAIN", [plain])]).status_code == 200
    assert lookup(member_a, [new_token() for _ in range(6)]).status_code == 200
    me = member_a.institution.pk

    period = today_period()
    section = policy(ReportContext(period, [me, member_b.institution.pk]))[me]
    rows = {row[0]: row[1:] for row in section.rows}
    assert section.summary == {"card_version": 1, "effective_from": business_today(), "new_open_loans": 3}
    # The same measures straight from the tables.
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM sharing_record WHERE member_id = %s AND kind = 'loan' AND created_at >= %s",
            [me, period.start_at],
        )
        (new_loans,) = cursor.fetchone()
        cursor.execute(
            # The watch tokens read alone: on a Citus cluster they are sharded, the records and watches are not.
            "WITH wt AS MATERIALIZED (SELECT token, watch_id FROM sharing_watchtoken) "
            "SELECT count(DISTINCT r.id) FROM sharing_record r JOIN sharing_recordidentifier ri ON ri.record_id = r.id "
            "JOIN wt ON wt.token = ri.token JOIN sharing_watch w ON w.id = wt.watch_id "
            "WHERE r.member_id = %s AND w.member_id = %s AND r.kind = 'loan'",
            [me, me],
        )
        (watched,) = cursor.fetchone()
        cursor.execute(
            "SELECT sum(identifiers) FROM sharing_lookup WHERE member_id = %s AND purpose = 'credit_application'", [me]
        )
        (looked_up,) = cursor.fetchone()
    assert new_loans == 3 and watched == 1 and looked_up == 6
    assert rows["decline_breaches"] == ["2 / 100000.00", 3, 2 / 3]
    assert rows["watched_share"] == ["true", 3, round(watched / new_loans, 6)]
    assert rows["lookups_per_new_loan"] == ["", 3, looked_up / new_loans]
    assert rows["dispute_upheld_rate"] == ["", None, None]
    # A member without a card has no policy to measure against.
    theirs = policy(ReportContext(period, [member_b.institution.pk]))[member_b.institution.pk]
    assert (
        theirs.summary["card_version"] is None and dict((r[0], r[3]) for r in theirs.rows)["decline_breaches"] is None
    )
