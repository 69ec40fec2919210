"""Webhook deliveries through a real Celery worker on Redis, including a worker killed mid-delivery."""

from __future__ import annotations

import pytest
from django.test import override_settings

from sharing import tasks as registered_tasks  # noqa: F401 - the test process sends by name
from sharing.models import Batch, ConsortiumKey, MonitoringEvent, WebhookDelivery
from sharing.monitoring.tasks import webhooks_sweep
from tests.sharing.conftest import new_token, submit
from tests.sharing.monitoring.test_events import mobile
from tests.sharing.monitoring.test_watches import put_watches, watch
from tests.worker import wait_for

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.worker_env(
        RISKSHARE_WEBHOOK_ALLOW_HOSTS="127.0.0.1",
        RISKSHARE_WEBHOOK_SCHEDULE_SCALE="0.0001",
        RISKSHARE_WEBHOOK_LEASE_SECONDS="3",
    ),
]


@pytest.fixture
def key_v1_committed(transactional_db):
    return ConsortiumKey.objects.create(version=1, check_value="0" * 16, created_by="tests")


def _setup(member_a, receiver, count):
    tokens = [new_token() for _ in range(count)]
    put_watches(member_a, [watch(f"LOAN-{i}", [new_token(), t]) for i, t in enumerate(tokens)])
    response = member_a.client().post("/api/v1/webhook-endpoints", {"url": receiver.url}, format="json")
    assert response.status_code == 201, response.content
    return tokens


def test_failing_then_succeeding_receiver_gets_each_event_once(
    celery_worker, member_a, member_b, key_v1_committed, receiver
):
    receiver.answer = lambda n, message_id: (500, {}) if n < 3 else (200, {})
    tokens = _setup(member_a, receiver, 5)
    batch_id = submit(member_b, [mobile([t]) for t in tokens]).json()["id"]
    wait_for(lambda: Batch.objects.get(pk=batch_id).status == "done", message="batch matched")
    wait_for(lambda: len(receiver.delivered_ids()) >= 5, timeout=60, message="every event delivered")
    delivered = receiver.delivered_ids()
    assert len(delivered) == len(set(delivered)) == 5
    expected = {f"evt_{pk}" for pk in MonitoringEvent.objects.values_list("pk", flat=True)}
    assert set(delivered) == expected
    # The worker records the answers just after the receiver has them.
    wait_for(
        lambda: set(WebhookDelivery.objects.values_list("status", flat=True)) == {"delivered"},
        timeout=30,
        message="every delivery recorded as delivered",
    )
    assert len(receiver.delivered_ids()) == 5  # and none sent again after its 2xx


def test_worker_killed_mid_delivery_loses_nothing(celery_worker, member_a, member_b, key_v1_committed, receiver):
    receiver.delay = 0.25  # a slow receiver, so the kill lands inside the sending
    tokens = _setup(member_a, receiver, 12)
    submit(member_b, [mobile([t]) for t in tokens])
    # Killed while a delivery is being sent (the receiver then waits 0.25 s before it answers): between two
    # deliveries no row is "sending", and a kill there (seen once in CI) tests nothing.
    wait_for(
        lambda: len(receiver.received) >= 2 and WebhookDelivery.objects.filter(status="sending").exists(),
        timeout=60,
        interval=0.01,
        message="a delivery under way",
    )
    celery_worker.kill()
    assert len(receiver.delivered_ids()) < 12, "the worker finished before it could be killed"
    assert WebhookDelivery.objects.filter(status="sending").exists()
    celery_worker.start()
    with override_settings(RISKSHARE_WEBHOOK_LEASE_SECONDS=3):
        # The row, not the broker, says what is unfinished: once the lease is over the sweep hands it back.
        wait_for(lambda: webhooks_sweep.apply().get()["released"] > 0, timeout=30, interval=0.5, message="released")
    wait_for(
        lambda: WebhookDelivery.objects.filter(status="delivered").count() == 12, timeout=90, message="all delivered"
    )
    # At least once: every event reached the receiver with a 2xx; none was marked delivered without it.
    expected = {f"evt_{pk}" for pk in MonitoringEvent.objects.values_list("pk", flat=True)}
    assert set(receiver.delivered_ids()) == expected
