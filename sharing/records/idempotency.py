"""Idempotency keys, Stripe's contract: same key and body → the first answer again; same key and another
body → 422; same key while the first request is in flight → 409. Keys are per member."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from core.errors import ConflictError, IdempotencyKeyReused
from sharing.records.models import IdempotencyKey


@dataclass(frozen=True)
class Claim:
    key_id: int | None  # set when this request owns the key and must do the work
    replay_status: int | None = None
    replay_body: Any = None


def request_hash(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


# A request that owns a key holds a session-level advisory lock (this class, the key's id) from the
# statement that claims it until its answer is committed or its key released. A dying request, a
# killed worker or a database restart ends its session, and so its lock: an in-flight key whose
# lock is free belongs to a request that can no longer answer, and the next request takes it over
# at once. Ids past 2**31 share a lock with another key (one of them then waits for the other's end
# to take over, never sooner). Arbitrary fixed class, distinct from the other advisory locks.
_KEY_LOCK_CLASS = 731_422_701
_LOCK_ARGS = "%s, (%s %% 2147483647)::int"

_CLAIM_SQL = f"""
    WITH claimed AS (
        INSERT INTO sharing_idempotencykey (member_id, key, request_hash, state, created_at, locked_at)
        VALUES (%s, %s, %s, 'in_flight', %s, %s) ON CONFLICT (member_id, key) DO NOTHING RETURNING id
    )
    SELECT id, pg_try_advisory_lock({_KEY_LOCK_CLASS}, (id %% 2147483647)::int) FROM claimed
"""  # noqa: S608 - only the fixed lock class is formatted in


def _lock_try(cursor, key_id: int) -> bool:
    cursor.execute(f"SELECT pg_try_advisory_lock({_LOCK_ARGS})", [_KEY_LOCK_CLASS, key_id])
    return cursor.fetchone()[0]


def _unlock(key_id: int) -> None:
    try:
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT pg_advisory_unlock({_LOCK_ARGS})", [_KEY_LOCK_CLASS, key_id])
    except DatabaseError:
        pass  # the session is gone, and its locks with it


def idempotency_claim(*, member_id: int, key: str, body_hash: str) -> Claim:
    """Claim ``key`` for this request in its own committed statement, so concurrent requests see it.

    The claim holds the key's lock until ``idempotency_complete``'s transaction commits or
    ``idempotency_release``; an in-flight key without its lock is taken over (see _KEY_LOCK_CLASS).
    """
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(_CLAIM_SQL, [member_id, key, body_hash, now, now])
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
    with connection.cursor() as cursor:
        if _lock_try(cursor, existing.pk):
            # Its owner is gone. Read again under the lock: the owner may have committed its answer
            # (or released the key) between the read above and its session's end.
            taken = IdempotencyKey.objects.filter(pk=existing.pk, state=IdempotencyKey.State.IN_FLIGHT).update(
                locked_at=now
            )
            if taken:
                return Claim(key_id=existing.pk)
            _unlock(existing.pk)
            return idempotency_claim(member_id=member_id, key=key, body_hash=body_hash)
    raise ConflictError(
        _("A request with this Idempotency-Key is still being processed; retry later."), code="request_in_flight"
    )


def idempotency_complete(*, key_id: int, status: int, body: Any) -> None:
    """Store the answer, in the same transaction as the work it describes; the key's lock goes at its commit."""
    IdempotencyKey.objects.filter(pk=key_id).update(
        state=IdempotencyKey.State.COMPLETE, response_status=status, response_body=body
    )
    transaction.on_commit(lambda: _unlock(key_id))


def idempotency_release(*, key_id: int) -> None:
    """The work failed and was rolled back: free the key so the client's retry can run.

    With the database gone the delete fails, and the lock went with the session: the key is free anyway.
    """
    try:
        IdempotencyKey.objects.filter(pk=key_id, state=IdempotencyKey.State.IN_FLIGHT).delete()
    except DatabaseError:
        return
    _unlock(key_id)


def idempotency_keys_purge(*, now: dt.datetime | None = None) -> int:
    cutoff = (now or timezone.now()) - dt.timedelta(hours=settings.RISKSHARE_IDEMPOTENCY_RETENTION_HOURS)
    deleted, _details = IdempotencyKey.objects.filter(created_at__lt=cutoff).delete()
    return deleted
