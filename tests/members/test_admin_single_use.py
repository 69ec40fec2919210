"""Admin forms that create something do it once: a reload or a resubmitted POST creates nothing more."""

from __future__ import annotations

import re

import pytest
from django.contrib.sessions.models import Session
from django.urls import reverse

from members.models import AuditEvent, Credential, Institution
from tests.admin_pages import form_nonce
from tests.factories import InstitutionFactory, OperatorFactory, make_uscc

KEY = re.compile(rb"rsk_[0-9a-f]{12}_[A-Za-z0-9_-]{43}")


@pytest.fixture
def credential_admin(db):
    return OperatorFactory(groups=["credential_admin"])


def issue_form(client, institution, nonce: str) -> dict:
    return {
        "form_nonce": nonce,
        "institution": institution.pk,
        "name": "origination",
        "scopes": ["lookups"],
        "allowed_ips": "",
        "expires_at_0": "",
        "expires_at_1": "",
    }


def test_the_same_issue_post_twice_issues_one_credential(client, credential_admin):
    institution = InstitutionFactory()
    client.force_login(credential_admin)
    url = reverse("admin:members_credential_add")
    data = issue_form(client, institution, form_nonce(client.get(url)))

    first = client.post(url, data)
    again = client.post(url, data)  # the browser's "resubmit the form?" on reload

    assert first.status_code == 200 and KEY.search(first.content)
    assert Credential.objects.filter(institution=institution).count() == 1
    assert AuditEvent.objects.filter(action="credential.issued").count() == 1
    assert again.status_code == 409 and not KEY.search(again.content)
    text = again.content.decode()
    assert "此表单已使用过" in text and "只显示一次" in text
    credential = Credential.objects.get(institution=institution)
    assert credential.prefix in text  # it names the credential the form did issue, and links to it
    assert reverse("admin:members_credential_change", args=[credential.pk]) in text
    assert "no-store" in again["Cache-Control"]


def test_the_key_is_kept_out_of_the_session_table_and_messages(client, credential_admin):
    institution = InstitutionFactory()
    client.force_login(credential_admin)
    url = reverse("admin:members_credential_add")
    response = client.post(url, issue_form(client, institution, form_nonce(client.get(url))))
    key = KEY.search(response.content).group().decode()
    stored = " ".join(str(session.get_decoded()) + session.session_data for session in Session.objects.all())
    assert key not in stored and key[:16] not in stored
    follow_up = client.get(reverse("admin:members_credential_changelist"))
    assert key.encode() not in follow_up.content


def test_each_rendering_of_the_form_issues_its_own_credential(client, credential_admin):
    institution = InstitutionFactory()
    client.force_login(credential_admin)
    url = reverse("admin:members_credential_add")
    for _ in range(2):
        assert KEY.search(client.post(url, issue_form(client, institution, form_nonce(client.get(url)))).content)
    assert Credential.objects.filter(institution=institution).count() == 2


def test_a_forged_or_missing_nonce_issues_nothing(client, credential_admin):
    institution = InstitutionFactory()
    client.force_login(credential_admin)
    url = reverse("admin:members_credential_add")
    for nonce in ["", "forged:nonce"]:
        response = client.post(url, issue_form(client, institution, nonce))
        assert response.status_code == 200 and response.context["adminform"].form.errors
    assert not Credential.objects.filter(institution=institution).exists()


def test_another_operators_nonce_issues_nothing(client, credential_admin):
    institution = InstitutionFactory()
    other = OperatorFactory(groups=["credential_admin"])
    client.force_login(other)
    url = reverse("admin:members_credential_add")
    nonce = form_nonce(client.get(url))
    client.force_login(credential_admin)
    response = client.post(url, issue_form(client, institution, nonce))
    assert response.status_code == 409
    assert not Credential.objects.filter(institution=institution).exists()


def test_the_same_institution_post_twice_creates_one_institution(client, db):
    reviewer = OperatorFactory(groups=["reviewer"])
    client.force_login(reviewer)
    uscc = make_uscc(6161)
    data = {
        "name": "新消金",
        "uscc": uscc,
        "kind": "consumer_finance",
        "licence_number": "L-2",
        "licence_expiry": "2099-01-01",
        "transitions-TOTAL_FORMS": "0",
        "transitions-INITIAL_FORMS": "0",
    }
    url = reverse("admin:members_institution_add")
    first = client.post(url, data)
    again = client.post(url, data)
    assert first.status_code == 302
    assert again.status_code == 200 and "uscc" in again.context["adminform"].form.errors
    assert Institution.objects.filter(uscc=uscc).count() == 1
    assert AuditEvent.objects.filter(action="institution.created").count() == 1


def test_revoking_twice_revokes_once_and_says_so(client, credential_admin, member_a):
    from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME

    client.force_login(credential_admin)
    url = reverse("admin:members_credential_changelist")
    data = {"action": "revoke", ACTION_CHECKBOX_NAME: [member_a.credential.pk], "apply": "1", "reason": "staff left"}
    first = client.post(url, data, follow=True)
    again = client.post(url, data, follow=True)
    assert [m.level_tag for m in first.context["messages"]] == ["info"]
    assert [m.level_tag for m in again.context["messages"]] == ["error"]
    assert AuditEvent.objects.filter(action="credential.revoked").count() == 1
