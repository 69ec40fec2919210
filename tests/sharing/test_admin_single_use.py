"""Settling a dispute from its page and generating reports happen once per form, however often it is sent."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.urls import reverse

from members.models import AuditEvent
from sharing.models import ConsortiumKey, Dispute, Record, Report
from tests.admin_pages import form_nonce
from tests.factories import OperatorFactory
from tests.sharing.conftest import blacklist, new_token, reported
from tests.sharing.disputes.test_disputes import file


@pytest.fixture
def desk(db):
    return OperatorFactory(groups=["dispute_handler"])


@pytest.fixture
def dispute(member_a, member_b, key_v1):
    token = new_token()
    reported(member_b, [blacklist([token], reference="B-SETTLE")])
    response = file(member_a, [token], statement="本人从未在该机构借款。")
    assert response.status_code == 201, response.content
    return Dispute.objects.get()


def test_a_disputes_page_has_a_settle_button_and_the_form_shows_the_case(client, desk, dispute):
    client.force_login(desk)
    page = client.get(reverse("admin:sharing_dispute_change", args=[dispute.pk]))
    settle_url = reverse("admin:sharing_dispute_settle", args=[dispute.pk])
    assert settle_url in page.content.decode()
    form = client.get(settle_url)
    text = form.content.decode()
    record = Record.objects.get(reference="B-SETTLE")
    stored = bytes(record.identifiers.get().token).hex()
    assert dispute.reason in text and "本人从未在该机构借款。" in text
    assert stored[:12] + "…" in text and stored not in text
    assert str(dispute.due_date.day) in text and record.reference in text


def test_the_same_settle_post_twice_settles_once(client, desk, dispute):
    client.force_login(desk)
    url = reverse("admin:sharing_dispute_settle", args=[dispute.pk])
    data = {"form_nonce": form_nonce(client.get(url)), "outcome": "confirmed", "note": "checked", "retract_reason": ""}
    first = client.post(url, data, follow=True)
    again = client.post(url, data)
    assert [str(m) for m in first.context["messages"]] == [f"异议 {dispute.pk} 已处理：维持。"]
    assert again.status_code == 409 and "此表单已使用过" in again.content.decode()
    dispute.refresh_from_db()
    assert dispute.status == "confirmed"
    assert AuditEvent.objects.filter(action="dispute.settled").count() == 1


def test_a_fresh_settle_form_on_a_settled_dispute_changes_nothing(client, desk, dispute):
    client.force_login(desk)
    url = reverse("admin:sharing_dispute_settle", args=[dispute.pk])
    first = {"form_nonce": form_nonce(client.get(url)), "outcome": "confirmed", "note": "a", "retract_reason": ""}
    second = {**first, "form_nonce": form_nonce(client.get(url)), "outcome": "corrected"}
    client.post(url, first)
    response = client.post(url, second)
    assert response.status_code == 200 and "已处理" in response.content.decode()
    dispute.refresh_from_db()
    assert dispute.status == "confirmed"


def test_the_same_report_generate_post_twice_generates_once(client, member_a, key_v1):
    operator = OperatorFactory(groups=["reviewer"])
    client.force_login(operator)
    url = reverse("admin:sharing_report_generate")
    form = client.get(url)
    start, last = form.context["form"].initial["period_start"], form.context["form"].initial["last_day"]
    assert (start.day, (last + dt.timedelta(days=1)).day) == (1, 1)  # last month, its last day included
    data = {"members": [member_a.institution.pk], "period_start": start, "last_day": last}
    data["form_nonce"] = form_nonce(form)
    assert client.post(url, data).status_code == 302
    again = client.post(url, data)
    assert again.status_code == 409
    assert Report.objects.count() == 1
    generated = AuditEvent.objects.filter(action__in=["report.generated", "report.regenerated"])
    assert generated.count() == 1


def test_retiring_a_key_version_twice_retires_once(client, key_v1):
    ConsortiumKey.objects.create(version=2, check_value="1" * 16, created_by="tests")
    operator = OperatorFactory(groups=["credential_admin"])
    client.force_login(operator)
    url = reverse("admin:sharing_consortiumkey_changelist")
    data = {"action": "retire", ACTION_CHECKBOX_NAME: [key_v1.pk], "apply": "1", "reason": "rotated"}
    first = client.post(url, data, follow=True)
    again = client.post(url, data, follow=True)
    assert [m.level_tag for m in first.context["messages"]] == ["info"]
    assert [m.level_tag for m in again.context["messages"]] == ["error"]
    assert AuditEvent.objects.filter(action="consortium_key.retired").count() == 1
