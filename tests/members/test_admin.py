"""The operators' desk: lifecycle with reasons, credentials shown once, a read-only audit trail."""

from __future__ import annotations

import re

import pgtrigger
import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.urls import reverse

from members.models import AuditCheckpoint, AuditEvent, Credential, Institution
from tests.admin_pages import form_nonce
from tests.factories import InstitutionFactory, OperatorFactory, make_uscc


@pytest.fixture
def reviewer(db):
    return OperatorFactory(groups=["reviewer"])


@pytest.fixture
def credential_admin(db):
    return OperatorFactory(groups=["credential_admin"])


@pytest.fixture
def auditor(db):
    return OperatorFactory(groups=["auditor"])


def test_reviewer_moves_institutions_with_a_reason(client, reviewer):
    a = InstitutionFactory(status=Institution.Status.ACTIVE)
    b = InstitutionFactory(status=Institution.Status.ACTIVE)
    client.force_login(reviewer)
    url = reverse("admin:members_institution_changelist")
    # First step: the intermediate page asks for the new status and a reason.
    page = client.post(url, {"action": "change_status", ACTION_CHECKBOX_NAME: [a.pk, b.pk]})
    assert page.status_code == 200
    assert b"reason" in page.content
    # Second step: applying it calls the lifecycle service for each.
    response = client.post(
        url,
        {
            "action": "change_status",
            ACTION_CHECKBOX_NAME: [a.pk, b.pk],
            "apply": "1",
            "to_status": "suspended",
            "reason": "licence under investigation",
        },
    )
    assert response.status_code == 302
    for institution in (a, b):
        institution.refresh_from_db()
        assert institution.status == "suspended"
        event = AuditEvent.objects.get(action="institution.status_changed", object_id=str(institution.pk))
        assert event.actor_type == "operator" and event.actor_label == reviewer.username
        assert event.payload["reason"] == "licence under investigation"


def test_transition_form_offers_only_legal_moves_and_refuses_others(client, reviewer):
    institution = InstitutionFactory(status=Institution.Status.WITHDRAWN)
    active = InstitutionFactory(status=Institution.Status.ACTIVE)
    client.force_login(reviewer)
    url = reverse("admin:members_institution_changelist")
    page = client.post(url, {"action": "change_status", ACTION_CHECKBOX_NAME: [active.pk]})
    offered = [value for value, _label in page.context["form"].fields["to_status"].choices]
    assert offered == ["suspended", "withdrawn"]
    response = client.post(
        url,
        {
            "action": "change_status",
            ACTION_CHECKBOX_NAME: [institution.pk],
            "apply": "1",
            "to_status": "active",
            "reason": "come back",
        },
    )
    assert response.status_code == 200 and response.context["form"].errors
    institution.refresh_from_db()
    assert institution.status == "withdrawn"


def test_transition_message_says_what_happened_and_a_resubmission_changes_nothing(client, reviewer):
    institution = InstitutionFactory(name="甲银行", status=Institution.Status.ACTIVE)
    client.force_login(reviewer)
    url = reverse("admin:members_institution_changelist")
    data = {
        "action": "change_status",
        ACTION_CHECKBOX_NAME: [institution.pk],
        "apply": "1",
        "to_status": "suspended",
        "reason": "licence under investigation",
    }
    response = client.post(url, data, follow=True, headers={"accept-language": "zh-hans"})
    assert [str(m) for m in response.context["messages"]] == ["已将 甲银行 从 正常 改为 已暂停。"]
    again = client.post(url, data)
    assert again.status_code == 200 and again.context["form"].errors
    assert AuditEvent.objects.filter(action="institution.status_changed", object_id=str(institution.pk)).count() == 1


def test_reviewer_creates_and_edits_an_institution_with_audit(client, reviewer):
    client.force_login(reviewer)
    uscc = make_uscc(5150)
    response = client.post(
        reverse("admin:members_institution_add"),
        {
            "name": "新网贷",
            "uscc": uscc,
            "kind": "online_lender",
            "licence_number": "L-1",
            "licence_expiry": "2099-01-01",
            "transitions-TOTAL_FORMS": "0",
            "transitions-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302, response.content
    institution = Institution.objects.get(uscc=uscc)
    assert institution.status == "applicant"
    assert AuditEvent.objects.filter(action="institution.created", object_id=str(institution.pk)).exists()
    response = client.post(
        reverse("admin:members_institution_change", args=[institution.pk]),
        {
            "name": "新网贷（更名）",
            "kind": "online_lender",
            "licence_number": "L-1",
            "licence_expiry": "2099-01-01",
            "transitions-TOTAL_FORMS": "0",
            "transitions-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302
    event = AuditEvent.objects.get(action="institution.updated", object_id=str(institution.pk))
    assert event.payload == {"changes": {"name": ["新网贷", "新网贷（更名）"]}}


def test_credential_key_is_shown_once_and_works(client, credential_admin):
    institution = InstitutionFactory()
    client.force_login(credential_admin)
    form = client.get(reverse("admin:members_credential_add"))
    response = client.post(
        reverse("admin:members_credential_add"),
        {
            "form_nonce": form_nonce(form),
            "institution": institution.pk,
            "name": "origination",
            "scopes": ["lookups", "records:write"],
            "allowed_ips": "",
            "expires_at_0": "",
            "expires_at_1": "",
        },
    )
    assert response.status_code == 200, response.content
    assert "no-store" in response["Cache-Control"]
    key = re.search(rb"rsk_[0-9a-f]{12}_[A-Za-z0-9_-]{43}", response.content).group().decode()
    credential = Credential.objects.get(institution=institution)
    assert credential.prefix == key[:16] and credential.scopes == ["lookups", "records:write"]
    assert AuditEvent.objects.filter(action="credential.issued", actor_label=credential_admin.username).exists()
    # The change page never shows it again.
    page = client.get(reverse("admin:members_credential_change", args=[credential.pk]))
    assert page.status_code == 200 and key.encode() not in page.content
    from rest_framework.test import APIClient

    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    assert api.get("/api/v1/me").status_code == 200


def test_credential_revoke_action(client, credential_admin, member_a):
    client.force_login(credential_admin)
    response = client.post(
        reverse("admin:members_credential_changelist"),
        {"action": "revoke", ACTION_CHECKBOX_NAME: [member_a.credential.pk], "apply": "1", "reason": "staff left"},
    )
    assert response.status_code == 302
    member_a.credential.refresh_from_db()
    assert member_a.credential.revoked_reason == "staff left"
    assert member_a.client().get("/api/v1/me").status_code == 401


def test_reviewer_cannot_issue_credentials(client, reviewer):
    client.force_login(reviewer)
    assert client.get(reverse("admin:members_credential_add")).status_code == 403


def test_audit_trail_is_read_only_even_for_superusers(client, member_a, db):
    superuser = OperatorFactory(is_superuser=True)
    client.force_login(superuser)
    event = AuditEvent.objects.first()
    assert client.get(reverse("admin:members_auditevent_add")).status_code == 403
    assert client.post(reverse("admin:members_auditevent_delete", args=[event.pk])).status_code == 403
    page = client.get(reverse("admin:members_auditevent_change", args=[event.pk]))
    assert page.status_code == 200 and b'name="_save"' not in page.content


def test_auditor_reads_and_verifies_the_chain(client, auditor, member_a):
    client.force_login(auditor)
    assert client.get(reverse("admin:members_auditevent_changelist")).status_code == 200
    response = client.post(reverse("admin:members_auditevent_verify"), follow=True)
    assert [m.level_tag for m in response.context["messages"]] == ["success"]
    assert AuditEvent.objects.filter(action="audit.verified", actor_label=auditor.username).exists()
    # The admin verifies from the last verified head, as the nightly job does: an edit of the event there is
    # found (one behind it is the full walk's, audit_verify --full).
    head = AuditCheckpoint.objects.order_by("-seq").first().seq
    with pgtrigger.ignore("members.AuditEvent:append_only"):
        AuditEvent.objects.filter(seq=head).update(action="forged")
    response = client.post(reverse("admin:members_auditevent_verify"), follow=True)
    assert [m.level_tag for m in response.context["messages"]] == ["error"]
    # The auditor has no say over members.
    assert client.get(reverse("admin:members_institution_add")).status_code == 403


def test_reviewer_cannot_read_the_audit_trail(client, reviewer):
    client.force_login(reviewer)
    assert client.get(reverse("admin:members_auditevent_changelist")).status_code == 403


@pytest.mark.parametrize(
    "url_name",
    [
        "members_institution_changelist",
        "members_credential_changelist",
        "members_auditevent_changelist",
        "sharing_batch_changelist",
        "sharing_consortiumkey_changelist",
        "sharing_record_changelist",
        "sharing_dispute_changelist",
        "sharing_alert_changelist",
    ],
)
def test_lists_stay_constant_in_queries(client, operator, url_name, django_assert_max_num_queries):
    from tests.conftest import issue

    for _ in range(30):
        issue(InstitutionFactory())
    client.force_login(OperatorFactory(is_superuser=True))
    with django_assert_max_num_queries(12):
        response = client.get(reverse(f"admin:{url_name}"))
    assert response.status_code == 200


def test_operator_groups_wait_for_every_permission(db):
    from django.contrib.auth.models import Group, Permission

    from members.groups import operator_groups, operator_groups_ensure

    reviewer = Group.objects.get(name="reviewer")
    assert reviewer.permissions.count() == len(operator_groups()["reviewer"])
    # Mid-migration a new model's permissions may not exist yet: nothing breaks, nothing is half-set.
    Permission.objects.filter(codename="view_memberflag").delete()
    reviewer.permissions.clear()
    operator_groups_ensure()
    assert reviewer.permissions.count() == 0


def test_an_open_history_hold_heads_the_dashboard_and_its_list_is_read_only(client, auditor, reviewer):
    from members.audit import Actor
    from members.history import hold_open, holds_release
    from members.models import HistoryHold

    client.force_login(auditor)
    index = client.get(reverse("admin:index"), headers={"accept-language": "zh-hans"}).content.decode()
    assert "?state=open" not in index  # nothing held: no panel
    assert hold_open(HistoryHold.Kind.VERIFIABLE_LOG, recorded={"size": 9}, found={"size": 7})
    index = client.get(reverse("admin:index"), headers={"accept-language": "zh-hans"}).content.decode()
    link = reverse("admin:members_historyhold_changelist") + "?state=open"
    assert link in index and "暂停" in index
    hold = HistoryHold.objects.get()
    listing = client.get(link)
    assert listing.status_code == 200 and list(listing.context["cl"].result_list) == [hold]
    assert client.get(reverse("admin:members_historyhold_add")).status_code == 403
    page = client.get(reverse("admin:members_historyhold_change", args=[hold.pk]))
    assert page.status_code == 200 and b'name="_save"' not in page.content
    # Released only by history_reconcile (the runbook); then the list's open filter is empty and the panel gone.
    holds_release(kinds={hold.kind}, actor=Actor.system("history"), reason="restored the latest", payload={})
    assert list(client.get(link).context["cl"].result_list) == []
    assert link not in client.get(reverse("admin:index")).content.decode()
    # Only those who read the audit trail see it.
    client.force_login(reviewer)
    assert client.get(link).status_code == 403
    assert link not in client.get(reverse("admin:index")).content.decode()
