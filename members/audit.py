"""The hash-chained audit trail: appending events and verifying the chain.

Each event's hash is SHA-256 over the canonical JSON (sorted keys, no spaces,
UTF-8) of its sequence number, time (UTC, microseconds), actor, action,
object, payload and the previous event's hash. Appends are serialized with a
transaction-scoped advisory lock, so the chain order is the commit order and a
rolled-back transaction leaves no gap.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, models, transaction
from django.utils import timezone

from members.models import AuditEvent

GENESIS_HASH = "0" * 64
# Arbitrary fixed key of the advisory lock that serializes appends to the chain.
_CHAIN_LOCK_KEY = 7_314_227_001


@dataclass(frozen=True)
class Actor:
    """Who did something: an operator, a member's credential, or the system itself."""

    type: str
    id: str
    label: str
    # The member institution acting, when the actor is one of its credentials.
    institution_id: int | None = None

    @classmethod
    def operator(cls, user) -> Actor:
        return cls(AuditEvent.ActorType.OPERATOR, str(user.pk), user.get_username())

    @classmethod
    def credential(cls, credential) -> Actor:
        return cls(
            AuditEvent.ActorType.CREDENTIAL,
            str(credential.pk),
            f"{credential.prefix} ({credential.institution.uscc})",
            credential.institution_id,
        )

    @classmethod
    def system(cls, label: str) -> Actor:
        return cls(AuditEvent.ActorType.SYSTEM, "", label)


def _utc_iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat(timespec="microseconds")


def event_hash(
    *,
    seq: int,
    occurred_at: dt.datetime,
    actor_type: str,
    actor_id: str,
    actor_label: str,
    action: str,
    object_type: str,
    object_id: str,
    object_repr: str,
    payload: Mapping[str, Any],
    prev_hash: str,
    institution_id: int | None = None,
) -> str:
    document = {
        "seq": seq,
        "occurred_at": _utc_iso(occurred_at),
        "actor": [actor_type, actor_id, actor_label],
        "action": action,
        "object": [object_type, object_id, object_repr],
        "payload": payload,
        "prev_hash": prev_hash,
    }
    # Added after the first events were written: absent from the hashed document when empty,
    # so every earlier event keeps its hash.
    if institution_id is not None:
        document["institution"] = institution_id
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _stored_hash(event: AuditEvent) -> str:
    return event_hash(
        seq=event.seq,
        occurred_at=event.occurred_at,
        actor_type=event.actor_type,
        actor_id=event.actor_id,
        actor_label=event.actor_label,
        action=event.action,
        object_type=event.object_type,
        object_id=event.object_id,
        object_repr=event.object_repr,
        payload=event.payload,
        prev_hash=event.prev_hash,
        institution_id=event.institution_id,
    )


def _institution_of(actor: Actor, obj: models.Model | None) -> int | None:
    """The member an event concerns: the institution itself, the object's member, or the acting member."""
    if obj is not None:
        if obj._meta.label_lower == "members.institution":
            return obj.pk
        for attribute in ("institution_id", "member_id"):
            value = getattr(obj, attribute, None)
            if value is not None:
                return value
    return actor.institution_id


def audit_event_record(
    *,
    actor: Actor,
    action: str,
    obj: models.Model | None = None,
    payload: Mapping[str, Any] | None = None,
    institution_id: int | None = None,
) -> AuditEvent:
    """Append one event to the chain, inside the caller's transaction.

    ``payload`` must never contain a secret (API keys, the pepper) or a raw
    identifier; it goes through a JSON round trip first so that the hashed form
    is exactly what the database gives back. ``institution_id`` names the
    member the event concerns when neither the object nor the actor says it.
    """
    clean_payload = json.loads(json.dumps(dict(payload or {}), cls=DjangoJSONEncoder))
    object_type = obj._meta.label_lower if obj is not None else ""
    object_id = str(obj.pk) if obj is not None else ""
    object_repr = str(obj)[:200] if obj is not None else ""
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_CHAIN_LOCK_KEY])
        last = AuditEvent.objects.order_by("-seq").values_list("seq", "hash").first()
        seq, prev_hash = (last[0] + 1, last[1]) if last else (1, GENESIS_HASH)
        occurred_at = timezone.now()
        fields = {
            "seq": seq,
            "occurred_at": occurred_at,
            "actor_type": str(actor.type),
            "actor_id": actor.id,
            "actor_label": actor.label[:200],
            "action": action,
            "object_type": object_type,
            "object_id": object_id,
            "object_repr": object_repr,
            "payload": clean_payload,
            "prev_hash": prev_hash,
            "institution_id": institution_id if institution_id is not None else _institution_of(actor, obj),
        }
        return AuditEvent.objects.create(**fields, hash=event_hash(**fields))


@dataclass(frozen=True)
class ChainVerification:
    ok: bool
    checked: int
    broken_seq: int | None = None
    problem: str = ""
    head_hash: str = GENESIS_HASH


def audit_chain_verify() -> ChainVerification:
    """Walk the whole chain in order; report the first event that does not fit.

    Detects an edited row (its hash no longer matches its content), a deleted
    row (a gap in the sequence, or a previous-hash that points elsewhere) and
    reordered rows (a row's content hashed for another position). Deleting the
    newest events is only detectable against a head hash kept elsewhere, which
    is why ``audit_verify`` prints the head hash for operators to record.
    """
    expected_seq = 1
    prev_hash = GENESIS_HASH
    checked = 0
    for event in AuditEvent.objects.order_by("seq").iterator(chunk_size=2000):
        if event.seq != expected_seq:
            return ChainVerification(
                False, checked, expected_seq, f"event {expected_seq} is missing (next is {event.seq})", prev_hash
            )
        if event.prev_hash != prev_hash:
            return ChainVerification(
                False, checked, event.seq, f"event {event.seq} does not follow event {event.seq - 1}", prev_hash
            )
        if _stored_hash(event) != event.hash:
            return ChainVerification(
                False, checked, event.seq, f"event {event.seq} was altered after it was written", prev_hash
            )
        prev_hash = event.hash
        expected_seq += 1
        checked += 1
    return ChainVerification(True, checked, head_hash=prev_hash)
