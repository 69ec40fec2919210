"""Operators' view of monitoring: watch counts without tokens, endpoint health, an audited replay."""

from __future__ import annotations

from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.urls import reverse

from members.models import AuditEvent
from sharing.models import WebhookDelivery, WebhookEndpoint
from sharing.monitoring.delivery import deliveries_run
from tests.sharing.conftest import new_token, reported
from tests.sharing.monitoring.test_events import mobile
from tests.sharing.monitoring.test_watches import put_watches, watch


def test_watches_are_counted_per_member_and_no_token_is_shown(admin_client_for, operator, member_a, key_v1):
    tokens = [new_token() for _ in range(3)]
    put_watches(member_a, [watch(f"LOAN-{i}", [t]) for i, t in enumerate(tokens)])
    page = admin_client_for(operator).get(reverse("admin:sharing_watch_changelist"))
    assert page.status_code == 200
    html = page.content.decode()
    assert "Member A" in html and "LOAN-0" in html
    assert page.context["watch_counts"][0]["total"] == 3
    assert not any(token in html for token in tokens)


def test_endpoint_health_and_an_audited_replay_of_dead_letters(
    admin_client_for, operator, member_a, member_b, key_v1, receiver
):
    token = new_token()
    put_watches(member_a, [watch("LOAN-1", [new_token(), token])])
    member_a.client().post("/api/v1/webhook-endpoints", {"url": receiver.url}, format="json")
    receiver.answer = lambda n, message_id: (500, {})
    reported(member_b, [mobile([token])])
    deliveries_run()
    endpoint = WebhookEndpoint.objects.get()
    web = admin_client_for(operator)
    listing = web.get(reverse("admin:sharing_webhookendpoint_changelist"))
    assert listing.status_code == 200
    assert listing.context["cl"].result_list[0].dead == 1
    assert "whsec_" not in listing.content.decode()

    receiver.answer = lambda n, message_id: (200, {})
    response = web.post(
        reverse("admin:sharing_webhookendpoint_changelist"),
        {"action": "replay_dead_letters", ACTION_CHECKBOX_NAME: [endpoint.pk]},
    )
    assert response.status_code == 302
    assert AuditEvent.objects.filter(action="webhook_endpoint.dead_letters_replayed").count() == 1
    deliveries_run()
    assert WebhookDelivery.objects.get().status == "delivered"
    assert WebhookEndpoint.objects.get().status == "active"
