"""The operator's audit desk: audit filters, records read with an audit trail, the dispute queue, lock-out."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.test import Client
from django.urls import reverse
from django.utils import timezone, translation

from core.clock import business_today
from members.models import AuditEvent
from sharing.models import Dispute, Record
from tests.conftest import issue
from tests.factories import InstitutionFactory, OperatorFactory
from tests.sharing.conftest import blacklist, new_token, reported
from tests.sharing.disputes.test_disputes import file


@pytest.fixture
def desk(db):
    return OperatorFactory(groups=["dispute_handler"])


@pytest.fixture
def auditor(db):
    return OperatorFactory(groups=["auditor"])


def test_opening_a_record_is_an_audit_event_naming_the_operator(client, auditor, member_a, key_v1):
    token = new_token()
    reported(member_a, [blacklist([token], reference="SEEN")])
    record = Record.objects.get(reference="SEEN")
    client.force_login(auditor)

    listing = client.get(reverse("admin:sharing_record_changelist"))
    page = client.get(reverse("admin:sharing_record_change", args=[record.pk]))

    assert listing.status_code == 200 and page.status_code == 200
    viewed = AuditEvent.objects.filter(action="record.viewed")
    assert viewed.count() == 1  # the list is not a view of one record
    event = viewed.get()
    assert event.actor_label == auditor.username and event.object_id == str(record.pk)
    assert event.institution_id == member_a.institution.pk
    # Tokens are shown shortened: the peppered token's start, never all of it, never the sent token.
    stored = bytes(record.identifiers.get().token).hex()
    content = page.content.decode()
    assert stored[:12] + "…" in content and stored not in content and token not in content
    # Read-only: no save button, and a POST changes nothing.
    assert 'name="_save"' not in content
    assert (
        client.post(reverse("admin:sharing_record_change", args=[record.pk]), {"status": "retracted"}).status_code
        == 403
    )


def test_audit_trail_filters_by_institution_operator_action_and_date(client, auditor, member_a, member_b, key_v1):
    reported(member_a, [blacklist(reference="A-1")])
    reported(member_b, [blacklist(reference="B-1")])
    operator = OperatorFactory(groups=["reviewer"])
    client.force_login(operator)  # an operator action: the login itself
    client.force_login(auditor)
    url = reverse("admin:members_auditevent_changelist")

    def shown(**query) -> set[int]:
        response = client.get(url, query)
        assert response.status_code == 200
        return {event.pk for event in response.context["cl"].result_list}

    of_a = shown(institution=member_a.institution.pk)
    assert of_a and of_a == set(
        AuditEvent.objects.filter(institution=member_a.institution).values_list("pk", flat=True)
    )
    assert of_a.isdisjoint(shown(institution=member_b.institution.pk))
    by_operator = shown(operator=operator.pk)
    assert {AuditEvent.objects.get(pk=pk).actor_label for pk in by_operator} == {operator.username}
    assert {AuditEvent.objects.get(pk=pk).action for pk in shown(action="batch.accepted")} <= {"batch.accepted"}
    now = timezone.now()
    assert shown(occurred_at__gte=(now + dt.timedelta(days=2)).isoformat()) == set()
    assert shown(occurred_at__gte=(now - dt.timedelta(days=2)).isoformat()) == set(
        AuditEvent.objects.values_list("pk", flat=True)
    )


def test_member_and_credential_pages_show_their_recent_audit_events(client, member_a, member_b):
    superuser = OperatorFactory(is_superuser=True)
    client.force_login(superuser)

    page = client.get(reverse("admin:members_institution_change", args=[member_a.institution.pk])).content.decode()
    credential_page = client.get(
        reverse("admin:members_credential_change", args=[member_a.credential.pk])
    ).content.decode()

    issued = AuditEvent.objects.get(action="credential.issued", object_id=str(member_a.credential.pk))
    other = AuditEvent.objects.get(action="credential.issued", object_id=str(member_b.credential.pk))
    link = reverse("admin:members_auditevent_change", args=[issued.pk])
    assert link in page and link in credential_page
    other_link = reverse("admin:members_auditevent_change", args=[other.pk])
    assert other_link not in page and other_link not in credential_page


def test_dispute_queue_orders_by_due_date_and_flags_deadlines(client, desk, member_a, member_b, key_v1):
    tokens = [new_token() for _ in range(3)]
    reported(member_b, [blacklist([token]) for token in tokens])
    today = business_today()
    ages = [16, 25, 2]  # days since receipt: due soon, overdue, fresh
    for token, age in zip(tokens, ages, strict=True):
        with time_machine.travel(dt.datetime.now(dt.UTC) - dt.timedelta(days=age), tick=False):
            assert file(member_a, [token]).status_code == 201
    client.force_login(desk)

    page = client.get(reverse("admin:sharing_dispute_changelist"))

    listed = list(page.context["cl"].result_list)
    assert [d.due_date for d in listed] == sorted(d.due_date for d in listed)
    assert [(d.due_date - today).days for d in listed] == [-5, 4, 18]
    with translation.override("en"):
        labels = [page.context["cl"].model_admin.deadline(d) for d in listed]
    assert labels == ["OVERDUE by 5 day(s)", "due soon: 4 day(s) left", "18 day(s) left"]
    overdue = client.get(reverse("admin:sharing_dispute_changelist"), {"deadline": "overdue"}).context["cl"]
    assert [(d.due_date - today).days for d in overdue.result_list] == [-5]
    soon = client.get(reverse("admin:sharing_dispute_changelist"), {"deadline": "due_soon"}).context["cl"]
    assert [(d.due_date - today).days for d in soon.result_list] == [4]


def test_operator_settles_a_dispute_in_the_admin(client, desk, member_a, member_b, key_v1):
    token = new_token()
    reported(member_b, [blacklist([token], reference="X")])
    dispute = Dispute.objects.get(pk=file(member_a, [token]).json()["id"])
    client.force_login(desk)
    url = reverse("admin:sharing_dispute_changelist")

    form = client.post(url, {"action": "settle", ACTION_CHECKBOX_NAME: [dispute.pk]})
    assert form.status_code == 200 and b"outcome" in form.content
    done = client.post(
        url,
        {
            "action": "settle",
            ACTION_CHECKBOX_NAME: [dispute.pk],
            "apply": "1",
            "outcome": "corrected",
            "note": "Reporter could not substantiate.",
            "retract_reason": "Retracted after dispute.",
        },
    )

    assert done.status_code == 302
    dispute.refresh_from_db()
    assert dispute.status == "corrected" and dispute.settled_by == desk.username
    assert Record.objects.get(reference="X").status == "retracted"
    event = AuditEvent.objects.get(action="dispute.settled")
    assert event.actor_label == desk.username and event.payload["retracted"] == 1
    detail = client.get(reverse("admin:sharing_dispute_change", args=[dispute.pk])).content.decode()
    assert reverse("admin:sharing_record_change", args=[Record.objects.get(reference="X").pk]) in detail


def test_only_dispute_handlers_settle(client, member_a, member_b, key_v1):
    token = new_token()
    reported(member_b, [blacklist([token])])
    dispute = Dispute.objects.get(pk=file(member_a, [token]).json()["id"])
    client.force_login(OperatorFactory(groups=["auditor"]))
    url = reverse("admin:sharing_dispute_changelist")
    assert client.get(url).status_code == 200
    response = client.post(
        url,
        {"action": "settle", ACTION_CHECKBOX_NAME: [dispute.pk], "apply": "1", "outcome": "confirmed", "note": "x"},
    )
    assert response.status_code in (200, 302)
    dispute.refresh_from_db()
    assert dispute.status == "open"


def test_admin_login_locks_out_after_five_failures(db):
    operator = OperatorFactory(username="ops1")
    web = Client()
    url = reverse("admin:login")
    for _ in range(5):
        response = web.post(url, {"username": "ops1", "password": "wrong password!", "next": "/admin/"})
        assert response.status_code in (200, 429)
    # Now even the right password is refused, and the lock-out is in the audit trail.
    locked = web.post(url, {"username": "ops1", "password": "correct horse battery staple", "next": "/admin/"})
    assert locked.status_code == 429
    assert web.get("/admin/").status_code == 302  # not signed in
    events = AuditEvent.objects.filter(action="operator.locked_out")
    assert events.exists() and {event.payload["username"] for event in events} == {"ops1"}
    assert "wrong password" not in str([event.payload for event in events])
    # Another operator is not affected.
    OperatorFactory(username="ops2")
    other = Client().post(url, {"username": "ops2", "password": "correct horse battery staple", "next": "/admin/"})
    assert other.status_code == 302
    assert operator.pk


def test_unaffected_members_see_nothing_of_disputes(member_a, member_b, key_v1):
    member_c = issue(InstitutionFactory())
    token = new_token()
    reported(member_b, [blacklist([token])])
    file(member_a, [token])
    assert member_c.client().get("/api/v1/alerts").json()["results"] == []
    assert member_c.client().get("/api/v1/disputes").json()["results"] == []
