"""The lookup log and subject search: who looked a person up, for operators handling a complaint."""

from __future__ import annotations

import logging

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from members.models import AuditEvent
from sharing.models import Lookup
from sharing.tokens.pepper import pepper_token
from tests.factories import OperatorFactory
from tests.sharing.conftest import blacklist, lookup, new_token, reported
from tests.sharing.disputes.test_disputes import file


@pytest.fixture
def auditor(db):
    return OperatorFactory(groups=["auditor"])


@pytest.fixture
def case(member_a, member_b, key_v1):
    """member_b reported the subject; member_a looked them up twice and filed a dispute; one other lookup."""
    token = new_token()
    reported(member_b, [blacklist([token], reference="B-CASE")])
    assert lookup(member_a, [token], consent="CONSENT-1").status_code == 200
    assert lookup(member_a, [token], purpose="post_loan_monitoring", consent=None).status_code == 200
    assert lookup(member_b, [new_token()], consent="CONSENT-2").status_code == 200
    assert file(member_a, [token]).status_code == 201
    return token


def test_the_lookup_log_filters_by_member_purpose_and_missing_consent(client, auditor, member_a, member_b, case):
    client.force_login(auditor)
    url = reverse("admin:sharing_lookup_changelist")

    def shown(**query):
        response = client.get(url, query)
        assert response.status_code == 200
        return list(response.context["cl"].result_list)

    assert len(shown()) == 3
    assert {lk.member_id for lk in shown(member=member_b.institution.pk)} == {member_b.institution.pk}
    assert [lk.purpose for lk in shown(purpose="post_loan_monitoring")] == ["post_loan_monitoring"]
    assert [lk.consent_reference for lk in shown(consent="missing")] == [""]
    page = client.get(reverse("admin:sharing_lookup_change", args=[Lookup.objects.order_by("pk").first().pk]))
    stored = bytes(pepper_token(case)).hex()
    text = page.content.decode()
    assert stored[:12] + "…" in text and stored not in text and case not in text
    # Read-only: nothing to add, change or delete.
    assert client.post(url.replace("/lookup/", "/lookup/add/")).status_code == 403


def test_the_lookup_list_reads_a_fixed_number_of_queries(client, auditor, member_a, key_v1):
    client.force_login(auditor)
    url = reverse("admin:sharing_lookup_changelist")
    lookup(member_a, [new_token()])
    with CaptureQueriesContext(connection) as few:
        client.get(url)
    for _ in range(5):
        lookup(member_a, [new_token()])
    with CaptureQueriesContext(connection) as more:
        client.get(url)
    assert len(more) == len(few)


def test_subject_search_shows_records_summary_disputes_and_every_lookup(client, auditor, member_a, member_b, case):
    client.force_login(auditor)
    url = reverse("admin:sharing_subject_search")
    response = client.post(url, {"id_type": "cn_resident_id", "token": case.upper()})
    assert response.status_code == 200
    findings = response.context["findings"]
    assert [item["record"].reference for item in findings.records] == ["B-CASE"]
    assert findings.records[0]["record"].member == member_b.institution  # operators may see who reported
    assert findings.summary is not None and len(findings.disputes) == 1
    assert findings.lookups_total == 2
    assert {lk.purpose for lk in findings.lookups} == {"credit_application", "post_loan_monitoring"}
    text = response.content.decode()
    assert member_a.institution.name in text and member_b.institution.name in text
    assert case not in text and case.upper() not in text  # the typed token is never rendered back
    event = AuditEvent.objects.get(action="subject.searched")
    assert event.actor_label == auditor.username
    short = bytes(pepper_token(case)).hex()[:12] + "…"
    assert event.payload == {"id_type": "cn_resident_id", "token": short, "records": 1, "lookups": 2}
    assert case not in str(event.payload)


def test_subject_search_of_an_unknown_token_finds_nothing_and_is_still_audited(client, auditor, case):
    client.force_login(auditor)
    response = client.post(reverse("admin:sharing_subject_search"), {"id_type": "cn_mobile", "token": new_token()})
    findings = response.context["findings"]
    assert findings.records == [] and findings.summary is None and findings.lookups_total == 0
    assert "没有会员查询过此信息主体" in response.content.decode()
    assert AuditEvent.objects.filter(action="subject.searched").count() == 1


def test_subject_search_is_for_auditors_and_dispute_handlers_only(client, db, case):
    url = reverse("admin:sharing_subject_search")
    for groups, status in [(["auditor"], 200), (["dispute_handler"], 200), (["reviewer", "credential_admin"], 403)]:
        client.force_login(OperatorFactory(groups=groups))
        assert client.get(url).status_code == status, groups
    assert not AuditEvent.objects.filter(action="subject.searched").exists()


def test_a_bad_token_is_refused_and_nothing_is_logged_in_the_clear(client, auditor, case, caplog):
    client.force_login(auditor)
    with caplog.at_level(logging.DEBUG):
        response = client.post(reverse("admin:sharing_subject_search"), {"id_type": "cn_resident_id", "token": "xyz"})
        client.post(reverse("admin:sharing_subject_search"), {"id_type": "cn_resident_id", "token": case})
    assert response.context["form"].errors and response.context["findings"] is None
    assert case not in caplog.text
    assert AuditEvent.objects.filter(action="subject.searched").count() == 1


def test_the_audit_trail_names_objects_in_the_platforms_language_whoever_asked(member_a, key_v1):
    import orjson

    body = {"purpose": "credit_application", "consent_reference": "CONSENT-9", "key_version": 1}
    body["identifiers"] = [{"type": "cn_mobile", "token": new_token()}]
    response = member_a.client().generic(
        "POST", "/api/v1/lookups", orjson.dumps(body), content_type="application/json", HTTP_ACCEPT_LANGUAGE="en"
    )
    assert response.status_code == 200, response.content
    event = AuditEvent.objects.get(action="lookup.performed")
    assert event.object_repr == f"查询 {response.json()['id']}（授信申请）"
