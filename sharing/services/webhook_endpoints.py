"""A member's webhook endpoints: register, rotate the signing secret, replay, test, delete.

The signing secret must be usable to sign every delivery, so it cannot be kept only as a digest: it is
sealed at rest (sharing.sealing, bound to the endpoint's id) and shown to the member once.
"""

from __future__ import annotations

import base64
import datetime as dt
import os
import uuid

from django.db import connection, transaction
from django.utils import timezone

from core.jobs import job_enqueue
from members.audit import Actor, audit_event_record
from sharing.models import WebhookDelivery, WebhookEndpoint
from sharing.monitoring.events import deliveries_enqueue
from sharing.monitoring.outbound import endpoint_url_check
from sharing.sealing import seal, unseal

SECRET_PREFIX = "whsec_"  # noqa: S105 - the Standard Webhooks prefix, not a secret
SECRET_BYTES = 32
ROTATION_OVERLAP = dt.timedelta(hours=24)


def _secret_context(endpoint_id: int, *, previous: bool = False) -> bytes:
    # These bytes must never change: what was sealed under them opens only with them.
    return b"riskshare webhook secret %d%s" % (endpoint_id, b" previous" if previous else b"")


def _secret_new() -> tuple[str, bytes]:
    key = os.urandom(SECRET_BYTES)
    return SECRET_PREFIX + base64.b64encode(key).decode("ascii"), key


def signing_keys(endpoint: WebhookEndpoint, *, now: dt.datetime) -> list[bytes]:
    """The keys that sign a delivery now: the current one, and the previous one for 24 h after a rotation."""
    keys = [unseal(bytes(endpoint.secret_sealed), context=_secret_context(endpoint.pk))]
    if endpoint.previous_secret_sealed and endpoint.previous_secret_until and endpoint.previous_secret_until > now:
        keys.append(unseal(bytes(endpoint.previous_secret_sealed), context=_secret_context(endpoint.pk, previous=True)))
    return keys


def endpoint_create(*, actor: Actor, member_id: int, url: str, types: list[str]) -> tuple[WebhookEndpoint, str]:
    """Register an endpoint; returns it and its signing secret, which is never shown again."""
    endpoint_url_check(url)
    secret, key = _secret_new()
    with transaction.atomic():
        endpoint = WebhookEndpoint.objects.create(
            member_id=member_id, url=url, types=sorted(set(types)), secret_sealed=b""
        )
        endpoint.secret_sealed = seal(key, context=_secret_context(endpoint.pk))
        endpoint.save(update_fields=["secret_sealed"])
        audit_event_record(
            actor=actor, action="webhook_endpoint.created", obj=endpoint, payload={"url": url, "types": endpoint.types}
        )
    return endpoint, secret


def endpoint_delete(*, actor: Actor, endpoint: WebhookEndpoint) -> None:
    """No delivery is claimed for a deleted endpoint; its rows stay as the record of what was sent."""
    with transaction.atomic():
        if WebhookEndpoint.objects.filter(pk=endpoint.pk, deleted_at__isnull=True).update(deleted_at=timezone.now()):
            audit_event_record(actor=actor, action="webhook_endpoint.deleted", obj=endpoint)


def endpoint_secret_rotate(*, actor: Actor, endpoint: WebhookEndpoint) -> tuple[WebhookEndpoint, str]:
    """A new secret; the old one keeps signing too for 24 hours, so receivers can switch without a gap."""
    secret, key = _secret_new()
    now = timezone.now()
    with transaction.atomic():
        locked = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
        current = unseal(bytes(locked.secret_sealed), context=_secret_context(locked.pk))
        locked.previous_secret_sealed = seal(current, context=_secret_context(locked.pk, previous=True))
        locked.previous_secret_until = now + ROTATION_OVERLAP
        locked.secret_sealed = seal(key, context=_secret_context(locked.pk))
        locked.save(update_fields=["previous_secret_sealed", "previous_secret_until", "secret_sealed"])
        audit_event_record(
            actor=actor,
            action="webhook_endpoint.secret_rotated",
            obj=locked,
            payload={"previous_until": locked.previous_secret_until},
        )
    return locked, secret


# Every event of the member after ``after`` that the endpoint takes, queued again: missing rows are
# added, delivered and dead ones sent again (a replay is a deliberate re-send); one being sent is left.
_REPLAY_SQL = """
    INSERT INTO sharing_webhookdelivery
        (endpoint_id, event_id, message_id, status, attempts, next_attempt_at, created_at, last_error)
    SELECT ep.id, e.id, 'evt_' || e.id, 'pending', 0, %(now)s, %(now)s, ''
    FROM sharing_webhookendpoint ep
    JOIN sharing_monitoringevent e ON e.member_id = ep.member_id AND e.id > %(after)s
         AND (cardinality(ep.types) = 0 OR e.type = ANY(ep.types))
    WHERE ep.id = %(endpoint)s
    ON CONFLICT (event_id, endpoint_id) WHERE event_id IS NOT NULL DO UPDATE
        SET status = 'pending', attempts = 0, next_attempt_at = EXCLUDED.next_attempt_at, lease_until = NULL
        WHERE sharing_webhookdelivery.status IN ('delivered', 'dead')
    RETURNING 1
"""


def endpoint_replay(*, actor: Actor, endpoint: WebhookEndpoint, after: int) -> int:
    """Send again every event after ``after``; re-activates a failing or disabled endpoint. Returns how many."""
    now = timezone.now()
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(_REPLAY_SQL, {"endpoint": endpoint.pk, "after": after, "now": now})
            queued = cursor.rowcount
        WebhookEndpoint.objects.filter(pk=endpoint.pk).update(status=WebhookEndpoint.Status.ACTIVE)
        audit_event_record(
            actor=actor, action="webhook_endpoint.replayed", obj=endpoint, payload={"after": after, "queued": queued}
        )
        deliveries_enqueue(queued)
    return queued


def endpoint_test(*, actor: Actor, endpoint: WebhookEndpoint) -> WebhookDelivery:
    """Queue a ``ping`` delivery, signed and retried like any other."""
    with transaction.atomic():
        delivery = WebhookDelivery.objects.create(
            endpoint=endpoint,
            event=None,
            ping={"endpoint": endpoint.pk},
            message_id=f"ping_{uuid.uuid4().hex}",
        )
        audit_event_record(actor=actor, action="webhook_endpoint.tested", obj=endpoint)
        transaction.on_commit(lambda: job_enqueue("sharing.webhooks_deliver"))
    return delivery


def endpoint_dead_letters_replay(*, actor: Actor, endpoint: WebhookEndpoint) -> int:
    """An operator sends an endpoint's dead letters again (after the receiver was fixed); re-activates it."""
    with transaction.atomic():
        queued = WebhookDelivery.objects.filter(endpoint=endpoint, status=WebhookDelivery.Status.DEAD).update(
            status=WebhookDelivery.Status.PENDING, attempts=0, next_attempt_at=timezone.now(), lease_until=None
        )
        WebhookEndpoint.objects.filter(pk=endpoint.pk).update(status=WebhookEndpoint.Status.ACTIVE)
        audit_event_record(
            actor=actor, action="webhook_endpoint.dead_letters_replayed", obj=endpoint, payload={"queued": queued}
        )
        deliveries_enqueue(queued)
    return queued
