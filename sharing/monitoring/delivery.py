"""Webhook deliveries per Standard Webhooks 1.0, with the row per (event, endpoint) as the truth.

A worker claims due rows (``pending`` → ``sending``, with a lease, committed), sends them, and records
each outcome with a conditional update on the claim it made, so a row delivered (2xx) is never claimed
again. A worker killed mid-send leaves rows ``sending``: the sweep hands them back when their lease is
over (at-least-once; receivers dedupe on ``webhook-id``, the same on every attempt).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import httpx
import orjson
from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from members.audit import Actor, audit_event_record
from sharing.alerts.services import alerts_create
from sharing.monitoring import outbound
from sharing.monitoring.models import MonitoringEvent, WebhookDelivery, WebhookEndpoint
from sharing.monitoring.selectors import event_document
from sharing.monitoring.services import signing_keys

# Standard Webhooks' schedule: the delay before attempt n + 1 is SCHEDULE[n] seconds (n attempts made).
SCHEDULE = (0, 5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400)
# A claim's sends overlap (SENDERS at a time), so a claim of CLAIM ends within CLAIM / SENDERS timeouts.
CLAIM = 32
SENDERS = 8
MAX_RETRY_AFTER = 86400
MAX_IDLE_WAIT = 6
SUCCESS_GROUP = 20

_CLAIM_SQL = """
    UPDATE sharing_webhookdelivery d
    SET status = 'sending', attempts = d.attempts + 1, lease_until = %(lease)s
    WHERE d.id IN (
        SELECT d2.id FROM sharing_webhookdelivery d2
        JOIN sharing_webhookendpoint ep ON ep.id = d2.endpoint_id
        WHERE d2.status = 'pending' AND d2.next_attempt_at <= %(now)s
          AND ep.deleted_at IS NULL AND ep.status <> 'disabled'
        ORDER BY d2.next_attempt_at, d2.id
        LIMIT %(limit)s
        FOR UPDATE OF d2 SKIP LOCKED
    )
    RETURNING d.id, d.endpoint_id, d.event_id, d.message_id, d.attempts, d.ping
"""


@dataclass(frozen=True)
class Claimed:
    id: int
    endpoint_id: int
    event_id: int | None
    message_id: str
    attempts: int
    ping: dict | None


def signature(keys: list[bytes], *, message_id: str, timestamp: int, body: bytes) -> str:
    """``v1,<base64 HMAC-SHA256>`` per live key, space-separated."""
    signed = b"%s.%d.%s" % (message_id.encode(), timestamp, body)
    return " ".join("v1," + base64.b64encode(hmac.digest(key, signed, hashlib.sha256)).decode() for key in keys)


def _claim(now: dt.datetime) -> list[Claimed]:
    lease = now + dt.timedelta(seconds=settings.RISKSHARE_WEBHOOK_LEASE_SECONDS)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(_CLAIM_SQL, {"now": now, "lease": lease, "limit": CLAIM})
        return [Claimed(*row) for row in cursor.fetchall()]


def _body(claimed: Claimed, event: MonitoringEvent | None) -> bytes:
    if event is None:
        return orjson.dumps({"type": "ping", "timestamp": timezone.now().isoformat(), "data": claimed.ping or {}})
    document = event_document(event)
    return orjson.dumps({"type": event.type, "timestamp": document["created_at"], "data": document})


def _retry_after(response: httpx.Response) -> float | None:
    if response.status_code not in (429, 503):
        return None
    try:
        return min(float(response.headers.get("retry-after", "")), MAX_RETRY_AFTER)
    except ValueError:
        return None


def deliveries_run(*, max_seconds: float = 50) -> int:
    """Send what is due until nothing is, or ``max_seconds`` have passed. Returns the number delivered."""
    started = time.monotonic()
    delivered = 0
    with outbound.client() as client, ThreadPoolExecutor(SENDERS, thread_name_prefix="webhook") as pool:
        while (elapsed := time.monotonic() - started) < max_seconds:
            claimed = _claim(timezone.now())
            if claimed:
                delivered += _send_claimed(client, pool, claimed)
                continue
            # A retry due in a few seconds is waited for here; later ones are the sweep's (every minute).
            wait = _next_due_in()
            if wait is None or wait > MAX_IDLE_WAIT or elapsed + wait > max_seconds:
                break
            time.sleep(wait)
    return delivered


def _claimable():
    return WebhookDelivery.objects.filter(status="pending", endpoint__deleted_at__isnull=True).exclude(
        endpoint__status=WebhookEndpoint.Status.DISABLED
    )


def _next_due_in() -> float | None:
    upcoming = _claimable().order_by("next_attempt_at").values_list("next_attempt_at", flat=True).first()
    return None if upcoming is None else max((upcoming - timezone.now()).total_seconds(), 0.0)


def _send_one(client: httpx.Client, url: str, body: bytes, headers: dict[str, str], *, late: bool):
    """One POST, in a sender thread (no database here): (outcome, value)."""
    if late:
        return "late", None
    try:
        return "response", client.post(url, content=body, headers=headers)
    except outbound.OutboundRefused as exc:
        return "error", f"refused: {exc}"[:200]
    except httpx.HTTPError as exc:
        return "error", type(exc).__name__


def _send_claimed(client: httpx.Client, pool: ThreadPoolExecutor, claimed: list[Claimed]) -> int:
    events = MonitoringEvent.objects.in_bulk([c.event_id for c in claimed if c.event_id is not None])
    endpoints = WebhookEndpoint.objects.in_bulk({c.endpoint_id for c in claimed})
    now = timezone.now()
    keys = {pk: signing_keys(endpoint, now=now) for pk, endpoint in endpoints.items()}
    # The last moment a send may start and still end (timeout) within the lease; the first always starts.
    lease_end = time.monotonic() + settings.RISKSHARE_WEBHOOK_LEASE_SECONDS - outbound.TIMEOUT_SECONDS
    sends = []
    for position, item in enumerate(claimed):
        endpoint = endpoints[item.endpoint_id]
        body = _body(item, events.get(item.event_id))
        timestamp = int(time.time())
        headers = {
            "content-type": "application/json",
            "webhook-id": item.message_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": signature(
                keys[endpoint.pk], message_id=item.message_id, timestamp=timestamp, body=body
            ),
        }
        late = bool(position) and time.monotonic() > lease_end
        sends.append(pool.submit(_send_one, client, endpoint.url, body, headers, late=late))
    delivered = 0
    # 2xx answers are recorded in groups: a killed worker re-sends at most one claim's worth (receivers
    # dedupe on webhook-id). Outcomes are recorded here, in the thread that owns the database connection.
    successes: list[tuple[Claimed, int]] = []
    for item, send in zip(claimed, sends, strict=True):
        if len(successes) >= SUCCESS_GROUP:
            delivered += _succeeded(successes)
        outcome, value = send.result()
        endpoint = endpoints[item.endpoint_id]
        if outcome == "late":
            # Not sent before the lease would run out: handed back as it was, for the next claim.
            _mine(item).update(status="pending", attempts=F("attempts") - 1, lease_until=None)
        elif outcome == "error":
            _failed(item, endpoint, status=None, error=value, retry_after=None)
        elif 200 <= value.status_code < 300:
            successes.append((item, value.status_code))
        elif value.status_code == 410:
            _gone(item, endpoint)
        else:
            _failed(item, endpoint, status=value.status_code, error="", retry_after=_retry_after(value))
    return delivered + _succeeded(successes)


def _mine(item: Claimed):
    # Only the claim this worker made: a row handed to another worker meanwhile is not touched.
    return WebhookDelivery.objects.filter(pk=item.id, status="sending", attempts=item.attempts)


_DELIVERED_SQL = """
    WITH done AS (
        UPDATE sharing_webhookdelivery d
        SET status = 'delivered', delivered_at = %(now)s, last_status = u.status, lease_until = NULL
        FROM unnest(%(ids)s::bigint[], %(attempts)s::int[], %(statuses)s::int[]) AS u(id, attempts, status)
        WHERE d.id = u.id AND d.status = 'sending' AND d.attempts = u.attempts
        RETURNING d.endpoint_id
    ),
    endpoints AS (
        UPDATE sharing_webhookendpoint ep
        SET last_success_at = %(now)s, consecutive_failures = 0,
            status = CASE WHEN ep.status = 'failing' THEN 'active' ELSE ep.status END
        WHERE ep.id IN (SELECT endpoint_id FROM done)
        RETURNING 1
    )
    SELECT (SELECT count(*) FROM done), (SELECT count(*) FROM endpoints)
"""


def _succeeded(successes: list[tuple[Claimed, int]]) -> int:
    """Record 2xx answers, a few at a time: one statement for all of them (conditional on each claim)."""
    if not successes:
        return 0
    with connection.cursor() as cursor:
        cursor.execute(
            _DELIVERED_SQL,
            {
                "now": timezone.now(),
                "ids": [item.id for item, _status in successes],
                "attempts": [item.attempts for item, _status in successes],
                "statuses": [status for _item, status in successes],
            },
        )
        done = cursor.fetchone()[0]
    successes.clear()
    return done


def _failed(item: Claimed, endpoint: WebhookEndpoint, *, status: int | None, error: str, retry_after) -> None:
    now = timezone.now()
    with transaction.atomic():
        WebhookEndpoint.objects.filter(pk=endpoint.pk).update(consecutive_failures=F("consecutive_failures") + 1)
        if item.attempts >= len(SCHEDULE):
            if _mine(item).update(status="dead", last_status=status, last_error=error, lease_until=None):
                _endpoint_failing(endpoint)
            return
        delay = SCHEDULE[item.attempts] * settings.RISKSHARE_WEBHOOK_SCHEDULE_SCALE
        if retry_after is not None:
            delay = max(delay, retry_after)
        _mine(item).update(
            status="pending",
            next_attempt_at=now + dt.timedelta(seconds=delay),
            last_status=status,
            last_error=error,
            lease_until=None,
        )


def _endpoint_failing(endpoint: WebhookEndpoint) -> None:
    """The first dead letter of an active endpoint marks it failing and alerts its member, once."""
    if WebhookEndpoint.objects.filter(pk=endpoint.pk, status=WebhookEndpoint.Status.ACTIVE).update(
        status=WebhookEndpoint.Status.FAILING
    ):
        alerts_create([(endpoint.member_id, "webhook_failing", {"endpoint_id": endpoint.pk, "url": endpoint.url})])
        audit_event_record(actor=Actor.system("webhooks"), action="webhook_endpoint.failing", obj=endpoint)


def _gone(item: Claimed, endpoint: WebhookEndpoint) -> None:
    """410 Gone: the receiver asks for no more deliveries; the endpoint is disabled until a replay."""
    with transaction.atomic():
        _mine(item).update(status="pending", attempts=F("attempts") - 1, last_status=410, lease_until=None)
        if (
            WebhookEndpoint.objects.filter(pk=endpoint.pk)
            .exclude(status=WebhookEndpoint.Status.DISABLED)
            .update(status=WebhookEndpoint.Status.DISABLED)
        ):
            alerts_create([(endpoint.member_id, "webhook_failing", {"endpoint_id": endpoint.pk, "url": endpoint.url})])
            audit_event_record(actor=Actor.system("webhooks"), action="webhook_endpoint.disabled", obj=endpoint)


def deliveries_sweep(*, now: dt.datetime | None = None) -> dict[str, int]:
    """Hand back rows whose worker's lease ran out; say whether anything is due (the caller enqueues)."""
    now = now or timezone.now()
    released = WebhookDelivery.objects.filter(status="sending", lease_until__lt=now).update(
        status="pending", next_attempt_at=now, lease_until=None
    )
    due = _claimable().filter(next_attempt_at__lte=now).exists()
    return {"released": released, "due": int(due)}
