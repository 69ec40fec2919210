"""Webhook endpoints and deliveries per Standard Webhooks 1.0, in process against a local receiver."""

from __future__ import annotations

import base64
import datetime as dt

import orjson
import pytest
from django.utils import timezone
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from sharing.models import Alert, WebhookDelivery, WebhookEndpoint
from sharing.monitoring.delivery import SCHEDULE, deliveries_run, deliveries_sweep
from tests.sharing.conftest import new_token, reported
from tests.sharing.monitoring.test_events import mobile
from tests.sharing.monitoring.test_watches import put_watches, watch


def register(member, url, types=None):
    body = {"url": url} if types is None else {"url": url, "types": types}
    return member.client().post("/api/v1/webhook-endpoints", body, format="json")


@pytest.fixture
def watched_tokens(member_a, key_v1):
    tokens = [new_token() for _ in range(3)]
    put_watches(member_a, [watch(f"LOAN-{i}", [new_token(), t]) for i, t in enumerate(tokens)])
    return tokens


def test_an_endpoint_shows_its_secret_once_and_keeps_it_sealed(member_a, member_b, receiver):
    response = register(member_a, receiver.url)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["secret"].startswith("whsec_") and len(base64.b64decode(body["secret"][6:])) == 32
    stored = WebhookEndpoint.objects.get()
    assert base64.b64decode(body["secret"][6:]) not in bytes(stored.secret_sealed)
    shown = member_a.client().get(f"/api/v1/webhook-endpoints/{body['id']}").json()
    assert "secret" not in shown and shown["status"] == "active"
    assert member_a.client().get("/api/v1/webhook-endpoints").json()["results"][0]["id"] == body["id"]
    theirs = member_b.client().get(f"/api/v1/webhook-endpoints/{body['id']}")
    assert theirs.status_code == 404
    assert member_b.client().post(f"/api/v1/webhook-endpoints/{body['id']}/test").status_code == 404
    assert member_b.client().delete(f"/api/v1/webhook-endpoints/{body['id']}").status_code == 404
    assert member_a.client().delete(f"/api/v1/webhook-endpoints/{body['id']}").status_code == 204
    assert member_a.client().get(f"/api/v1/webhook-endpoints/{body['id']}").status_code == 404


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/hooks",
        "https://169.254.169.254/latest/meta-data",
        "https://10.0.0.8/hooks",
        "https://[::1]/hooks",
        "https://localhost/hooks",
        "http://example.com/hooks",
        "ftp://example.com/hooks",
        "https://user:pw@example.com/hooks",
    ],
)
def test_inward_and_plain_urls_are_refused_in_production(member_a, url, settings):
    settings.DEBUG = False
    settings.RISKSHARE_WEBHOOK_ALLOW_HOSTS = frozenset()
    response = register(member_a, url)
    assert response.status_code == 400
    assert response.json()["code"] == "url_not_allowed"
    assert WebhookEndpoint.objects.count() == 0


def test_unknown_types_and_fields_are_refused(member_a, receiver):
    assert register(member_a, receiver.url, types=["record.exploded"]).json()["code"] == "invalid_choice"
    response = member_a.client().post("/api/v1/webhook-endpoints", {"url": receiver.url, "x": 1}, format="json")
    assert response.json()["code"] == "unknown_field"


def test_deliveries_verify_with_the_standard_webhooks_package(member_a, member_b, watched_tokens, receiver):
    secret = register(member_a, receiver.url).json()["secret"]
    reported(member_b, [mobile([t]) for t in watched_tokens])
    assert deliveries_run() == 3
    feed = member_a.client().get("/api/v1/monitoring/events").json()["results"]
    verifier = Webhook(secret)
    # Deliveries carry no order promise: each is matched to its event by webhook-id.
    by_id = {request.headers["webhook-id"]: request for request in receiver.received}
    assert set(by_id) == {f"evt_{event['id']}" for event in feed} and len(receiver.received) == 3
    for event in feed:
        request = by_id[f"evt_{event['id']}"]
        payload = verifier.verify(request.body, request.headers)
        assert payload == {"type": "record.reported", "timestamp": event["created_at"], "data": event}
    with pytest.raises(WebhookVerificationError):
        Webhook(base64.b64encode(b"x" * 32).decode()).verify(receiver.received[0].body, receiver.received[0].headers)
    assert deliveries_run() == 0  # nothing is sent twice after a 2xx


def test_types_filter_what_an_endpoint_receives(member_a, member_b, watched_tokens, receiver):
    register(member_a, receiver.url, types=["record.ended"])
    reported(member_b, [mobile([watched_tokens[0]])])
    deliveries_run()
    assert receiver.received == []


def test_failing_receiver_gets_every_event_once_after_its_2xx(member_a, member_b, watched_tokens, receiver):
    receiver.answer = lambda n, message_id: (500, {}) if n < 4 else (200, {})
    register(member_a, receiver.url)
    reported(member_b, [mobile([t]) for t in watched_tokens])
    deliveries_run()
    delivered = receiver.delivered_ids()
    assert sorted(delivered) == sorted(set(delivered)) and len(delivered) == 3
    assert WebhookDelivery.objects.filter(status="delivered").count() == 3
    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.consecutive_failures == 0 and endpoint.last_success_at is not None


def test_retry_after_is_honoured(member_a, member_b, watched_tokens, receiver):
    receiver.answer = lambda n, message_id: (429, {"Retry-After": "120"})
    register(member_a, receiver.url)
    reported(member_b, [mobile([watched_tokens[0]])])
    deliveries_run(max_seconds=2)
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == "pending" and delivery.attempts == 1
    assert delivery.next_attempt_at > timezone.now() + dt.timedelta(seconds=110)


def test_gone_disables_the_endpoint_and_a_replay_revives_it(member_a, member_b, watched_tokens, receiver):
    receiver.answer = lambda n, message_id: (410, {}) if n == 0 else (200, {})
    endpoint_id = register(member_a, receiver.url).json()["id"]
    reported(member_b, [mobile([watched_tokens[0]])])
    deliveries_run()
    assert WebhookEndpoint.objects.get().status == "disabled"
    assert len(receiver.received) == 1
    assert Alert.objects.filter(member=member_a.institution, kind="webhook_failing").count() == 1
    replay = member_a.client().post(f"/api/v1/webhook-endpoints/{endpoint_id}/replay", {"after": 0}, format="json")
    assert replay.status_code == 202
    deliveries_run()
    assert len(receiver.delivered_ids()) == 1


def test_past_the_schedule_dead_letters_then_replay_delivers(member_a, member_b, watched_tokens, receiver):
    receiver.answer = lambda n, message_id: (503, {})
    endpoint_id = register(member_a, receiver.url).json()["id"]
    reported(member_b, [mobile([t]) for t in watched_tokens[:2]])
    deliveries_run()
    assert len(receiver.received) == 2 * len(SCHEDULE)
    assert set(WebhookDelivery.objects.values_list("status", flat=True)) == {"dead"}
    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.status == "failing" and endpoint.consecutive_failures == 2 * len(SCHEDULE)
    (alert,) = Alert.objects.filter(member=member_a.institution, kind="webhook_failing")
    assert alert.payload["endpoint_id"] == endpoint_id
    receiver.answer = lambda n, message_id: (200, {})
    queued = member_a.client().post(f"/api/v1/webhook-endpoints/{endpoint_id}/replay", {"after": 0}, format="json")
    assert queued.json() == {"queued": 2}
    deliveries_run()
    assert len(receiver.delivered_ids()) == 2
    assert WebhookEndpoint.objects.get().status == "active"


def test_rotation_signs_with_both_secrets_for_a_day(member_a, member_b, watched_tokens, receiver):
    created = register(member_a, receiver.url).json()
    rotated = member_a.client().post(f"/api/v1/webhook-endpoints/{created['id']}/rotate-secret").json()
    assert rotated["secret"] != created["secret"] and rotated["previous_secret_until"]
    member_a.client().post(f"/api/v1/webhook-endpoints/{created['id']}/test")
    deliveries_run()
    (request,) = receiver.received
    assert len(request.headers["webhook-signature"].split(" ")) == 2
    for secret in (created["secret"], rotated["secret"]):
        assert Webhook(secret).verify(request.body, request.headers)["type"] == "ping"
    WebhookEndpoint.objects.update(previous_secret_until=timezone.now() - dt.timedelta(seconds=1))
    member_a.client().post(f"/api/v1/webhook-endpoints/{created['id']}/test")
    deliveries_run()
    assert len(receiver.received[1].headers["webhook-signature"].split(" ")) == 1
    with pytest.raises(WebhookVerificationError):
        Webhook(created["secret"]).verify(receiver.received[1].body, receiver.received[1].headers)


def test_the_address_is_checked_again_at_connect_time(member_a, member_b, watched_tokens, receiver, settings):
    register(member_a, receiver.url)
    settings.RISKSHARE_WEBHOOK_ALLOW_HOSTS = frozenset()  # the host now resolves to a refused address
    reported(member_b, [mobile([watched_tokens[0]])])
    deliveries_run(max_seconds=1)
    assert receiver.received == []
    assert WebhookDelivery.objects.get().last_error.startswith("refused")


def test_sweep_hands_back_deliveries_whose_worker_vanished(member_a, member_b, watched_tokens, receiver):
    register(member_a, receiver.url)
    reported(member_b, [mobile([watched_tokens[0]])])
    WebhookDelivery.objects.update(status="sending", attempts=1, lease_until=timezone.now() - dt.timedelta(seconds=1))
    assert deliveries_run() == 0  # a leased row is not claimed
    assert deliveries_sweep() == {"released": 1, "due": 1}
    assert deliveries_run() == 1
    assert orjson.loads(receiver.received[0].body)["type"] == "record.reported"
