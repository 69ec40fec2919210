"""Idempotency keys, Stripe's contract: same key and body → the first answer again; same key and another
body → 422; same key while the first request is in flight → 409. Keys are per member."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import connection
from django.utils import timezone
from django.utils.translation import gettext as _

from core.errors import ConflictError, IdempotencyKeyReused
from sharing.models import IdempotencyKey


@dataclass(frozen=True)
class Claim:
    key_id: int | None  # set when this request owns the key and must do the work
    replay_status: int | None = None
    replay_body: Any = None


def request_hash(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def idempotency_claim(*, member_id: int, key: str, body_hash: str) -> Claim:
    """Claim ``key`` for this request in its own committed statement, so concurrent requests see it."""
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO sharing_idempotencykey (member_id, key, request_hash, state, created_at, locked_at) "
            "VALUES (%s, %s, %s, 'in_flight', %s, %s) ON CONFLICT (member_id, key) DO NOTHING RETURNING id",
            [member_id, key, body_hash, now, now],
        )
        row = cursor.fetchone()
    if row:
        return Claim(key_id=row[0])
    existing = IdempotencyKey.objects.filter(member_id=member_id, key=key).first()
    if existing is None:  # purged between the two statements: try once more
        return idempotency_claim(member_id=member_id, key=key, body_hash=body_hash)
    if existing.request_hash != body_hash:
        raise IdempotencyKeyReused(
            _("This Idempotency-Key was used with a different request body."), field="/headers/Idempotency-Key"
        )
    if existing.state == IdempotencyKey.State.COMPLETE:
        return Claim(key_id=None, replay_status=existing.response_status, replay_body=existing.response_body)
    stale_before = now - dt.timedelta(seconds=settings.RISKSHARE_IDEMPOTENCY_LOCK_SECONDS)
    if existing.locked_at < stale_before:
        # The first request died without answering: take the key over (only one taker wins).
        taken = IdempotencyKey.objects.filter(
            pk=existing.pk, state=IdempotencyKey.State.IN_FLIGHT, locked_at=existing.locked_at
        ).update(locked_at=now)
        if taken:
            return Claim(key_id=existing.pk)
    raise ConflictError(
        _("A request with this Idempotency-Key is still being processed; retry later."), code="request_in_flight"
    )


def idempotency_complete(*, key_id: int, status: int, body: Any) -> None:
    """Store the answer, in the same transaction as the work it describes."""
    IdempotencyKey.objects.filter(pk=key_id).update(
        state=IdempotencyKey.State.COMPLETE, response_status=status, response_body=body
    )


def idempotency_release(*, key_id: int) -> None:
    """The work failed and was rolled back: free the key so the client's retry can run."""
    IdempotencyKey.objects.filter(pk=key_id, state=IdempotencyKey.State.IN_FLIGHT).delete()


def idempotency_keys_purge(*, now: dt.datetime | None = None) -> int:
    cutoff = (now or timezone.now()) - dt.timedelta(hours=settings.RISKSHARE_IDEMPOTENCY_RETENTION_HOURS)
    deleted, _details = IdempotencyKey.objects.filter(created_at__lt=cutoff).delete()
    return deleted
