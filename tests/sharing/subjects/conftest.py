"""A person with a seeded history, under v2 tokens computed by the evaluator as the desk computes them."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

import pytest
from django.utils import timezone

from members.audit import Actor
from sharing.disputes.services import dispute_settle
from sharing.models import Dispute, Record
from sharing.tokens.gateway import evaluator
from sharing.tokens.identifiers import resident_id_check_character
from tests.conftest import issue
from tests.factories import InstitutionFactory, OperatorFactory
from tests.sharing.conftest import blacklist, loan, lookup, overdue, reported

# Valid identifiers of the person (check character computed) and of somebody else.
PERSON_ID = "11010519491231002" + resident_id_check_character("11010519491231002")
PERSON_MOBILE = "13912345678"
OTHER_ID = "31011519800101001" + resident_id_check_character("31011519800101001")


def v2_token(id_type: str, canonical: str, version: int = 2) -> str:
    [token] = evaluator().evaluate_full(version, id_type, [canonical])
    return token


@dataclass
class Seeded:
    person: str
    mobile: str
    other: str
    dispute_id: int
    names: dict[str, str]


def _lookup(member, tokens, purpose, consent="CONSENT-77"):
    response = lookup(member, tokens, purpose=purpose, consent=consent, key_version=2)
    assert response.status_code == 200, response.content
    return response.json()


@pytest.fixture
def seeded(db, key_v2, member_a, member_b) -> Seeded:
    """Records of two members, a loan, three lookups, one watch and a settled dispute; another person beside."""
    member_c = issue(InstitutionFactory(name="丙消费金融"))
    person, mobile = v2_token("cn_resident_id", PERSON_ID), v2_token("cn_mobile", PERSON_MOBILE)
    other = v2_token("cn_resident_id", OTHER_ID)
    reported(member_a, [blacklist([person], reference="A-1", key_version=2, category="fraud_ring")])
    reported(
        member_b,
        [
            overdue([person, mobile], reference="B-1", key_version=2, overdue_days=45, overdue_amount="1200.50"),
            loan(
                [person],
                reference="B-LOAN",
                key_version=2,
                relief="extension",
                relief_start="2026-03-01",
                maturity_date="2026-06-10",
                new_maturity_date="2026-12-10",
            ),
        ],
    )
    reported(member_c, [blacklist([other], reference="C-1", key_version=2)])
    reported(member_a, [overdue([person], reference="A-OLD", key_version=2, event_date="2025-01-10")])
    # A dispute about A-OLD, settled (confirmed).
    body = {
        "identifiers": [{"type": "cn_resident_id", "token": person}],
        "key_version": 2,
        "reason": "The person says this was paid.",
        "record": Record.objects.get(reference="A-OLD").pk,
    }
    filed = member_a.client().post("/api/v1/disputes", body, format="json")
    assert filed.status_code == 201, filed.content
    dispute = Dispute.objects.get(pk=filed.json()["id"])
    dispute_settle(
        actor=Actor.operator(OperatorFactory()), dispute=dispute, outcome="confirmed", note="Checked with member A."
    )
    _lookup(member_a, [person], "credit_application")
    _lookup(member_b, [person, mobile], "post_loan_monitoring", consent=None)
    _lookup(member_c, [person], "account_opening")
    _lookup(member_c, [other], "credit_application")
    watch = {
        "key_version": 2,
        "consent_reference": "CONSENT-88",
        "watches": [
            {
                "reference": "LOAN-9",
                "expires_on": (timezone.localdate() + dt.timedelta(days=200)).isoformat(),
                "identifiers": [{"type": "cn_resident_id", "token": person}],
            }
        ],
    }
    watched = member_b.client().post("/api/v1/watches", watch, format="json", HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()))
    assert watched.status_code in (200, 201, 202), watched.content
    names = {"a": member_a.institution.name, "b": member_b.institution.name, "c": member_c.institution.name}
    return Seeded(person=person, mobile=mobile, other=other, dispute_id=dispute.pk, names=names)
