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
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models, transaction
from django.utils import timezone, translation
from django.utils.functional import Promise
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from core.sql import execute_pipeline
from members.models import AuditEvent

GENESIS_HASH = "0" * 64
# Arbitrary fixed key of the advisory lock that serializes appends to the chain.
_CHAIN_LOCK_KEY = 7_314_227_001


# What an operator reads for an action code or a system actor. The stored code stays English (it is
# hashed into the chain and searched by); every app registers the labels of the codes it writes.
_ACTION_LABELS: dict[str, Promise] = {}
_SYSTEM_ACTOR_LABELS: dict[str, Promise] = {}
# `manage.py member_create (root)`: the command line and the system user who ran it.
_COMMAND_ACTOR = re.compile(r"^manage\.py (?P<command>\S+) \((?P<user>.*)\)$")


def audit_labels_register(
    *, actions: Mapping[str, Promise] | None = None, system_actors: Mapping[str, Promise] | None = None
) -> None:
    _ACTION_LABELS.update(actions or {})
    _SYSTEM_ACTOR_LABELS.update(system_actors or {})


def audit_action_label(code: str) -> str:
    """The translated label of an action code; an unregistered code is shown as it is stored."""
    label = _ACTION_LABELS.get(code)
    return str(label) if label is not None else code


def audit_action_choices() -> list[tuple[str, str]]:
    return sorted(((code, str(label)) for code, label in _ACTION_LABELS.items()), key=lambda item: item[0])


def audit_actor_label(actor_type: str, label: str) -> str:
    """The stored actor label as an operator reads it: system actors and command lines translated."""
    if actor_type != AuditEvent.ActorType.SYSTEM:
        return label
    return actor_text(label)


def actor_text(label: str) -> str:
    """A stored "by" label (issued by, settled by…) translated where it names a system actor or a command."""
    if label in _SYSTEM_ACTOR_LABELS:
        return str(_SYSTEM_ACTOR_LABELS[label])
    match = _COMMAND_ACTOR.match(label)
    if match:
        return gettext("command %(command)s (run as %(user)s)") % match.groupdict()
    return label


audit_labels_register(
    actions={
        "audit.verified": _("Audit chain verified"),
        "credential.issued": _("Credential issued"),
        "credential.revoked": _("Credential revoked"),
        "institution.created": _("Institution created"),
        "institution.status_changed": _("Institution status changed"),
        "institution.updated": _("Institution details changed"),
        "operator.locked_out": _("Operator login locked"),
        "operator.logged_in": _("Operator logged in"),
    },
    system_actors={
        "django-axes": _("login lock-out guard"),
        "nightly audit verification": _("nightly audit verification"),
    },
)


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


def _document(
    *,
    occurred_at: dt.datetime,
    actor_type: str,
    actor_id: str,
    actor_label: str,
    action: str,
    object_type: str,
    object_id: str,
    object_repr: str,
    payload: Mapping[str, Any],
    institution_id: int | None = None,
) -> dict[str, Any]:
    """The hashed document of an event, without its place in the chain (``seq``, ``prev_hash``)."""
    document = {
        "occurred_at": _utc_iso(occurred_at),
        "actor": [actor_type, actor_id, actor_label],
        "action": action,
        "object": [object_type, object_id, object_repr],
        "payload": payload,
    }
    # Added after the first events were written: absent from the hashed document when empty,
    # so every earlier event keeps its hash.
    if institution_id is not None:
        document["institution"] = institution_id
    return document


def _canonical(document: Mapping[str, Any]) -> str:
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def event_hash(*, seq: int, prev_hash: str, **fields: Any) -> str:
    canonical = _canonical({**_document(**fields), "seq": seq, "prev_hash": prev_hash})
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


# Appends one event after the chain's head, hashing in the database: the canonical document is
# the prefix built in Python (every key but the last two, "prev_hash" and "seq", which sort last)
# completed with the head's hash and the next sequence number. One statement, no round trip
# between reading the head and writing the event.
_APPEND_SQL = """
    INSERT INTO members_auditevent (seq, occurred_at, actor_type, actor_id, actor_label, action, object_type,
        object_id, object_repr, payload, institution_id, prev_hash, hash)
    SELECT head.seq + 1, %(occurred_at)s, %(actor_type)s, %(actor_id)s, %(actor_label)s, %(action)s,
        %(object_type)s, %(object_id)s, %(object_repr)s, %(payload)s::jsonb, %(institution_id)s::bigint, head.hash,
        encode(sha256(convert_to(%(prefix)s || head.hash || '","seq":' || (head.seq + 1) || '}', 'UTF8')), 'hex')
    FROM (
        (SELECT seq, hash FROM members_auditevent ORDER BY seq DESC LIMIT 1)
        UNION ALL SELECT 0, %(genesis)s
        ORDER BY seq DESC LIMIT 1
    ) AS head
    RETURNING id, seq, prev_hash, hash
"""


def _object_repr(obj: models.Model | None) -> str:
    """The object's name as stored in the event: in the platform's language, whoever's request wrote it
    (an API client's Accept-Language must not decide what the audit trail says)."""
    if obj is None:
        return ""
    with translation.override(settings.LANGUAGE_CODE):
        return str(obj)[:200]


def audit_event_statements(
    *,
    actor: Actor,
    action: str,
    obj: models.Model | None = None,
    payload: Mapping[str, Any] | None = None,
    institution_id: int | None = None,
) -> tuple[list[tuple[str, dict[str, Any] | list[Any]]], dict[str, Any]]:
    """The statements that append one event inside the caller's transaction, and the event's fields.

    First the chain lock (appends are serialized, so the chain order is the commit order),
    then the insert that reads the head under it: two statements, so the insert's snapshot is
    taken after the lock is held. A caller on a hot path sends them in its own pipeline
    (``core.sql.execute_pipeline``) after its other writes.

    ``payload`` must never contain a secret (API keys, the pepper) or a raw identifier; it goes
    through a JSON round trip first so that the hashed form is exactly what the database gives
    back. ``institution_id`` names the member the event concerns when neither the object nor the
    actor says it. The event's time is taken before the lock, so concurrent appends may hold
    times a few microseconds out of sequence order.
    """
    fields = {
        "occurred_at": timezone.now(),
        "actor_type": str(actor.type),
        "actor_id": actor.id,
        "actor_label": actor.label[:200],
        "action": action,
        "object_type": obj._meta.label_lower if obj is not None else "",
        "object_id": str(obj.pk) if obj is not None else "",
        "object_repr": _object_repr(obj),
        "payload": json.loads(json.dumps(dict(payload or {}), cls=DjangoJSONEncoder)),
        "institution_id": institution_id if institution_id is not None else _institution_of(actor, obj),
    }
    document = _canonical(_document(**fields))
    params = {
        **fields,
        "payload": json.dumps(fields["payload"], ensure_ascii=False),
        "prefix": document[:-1] + ',"prev_hash":"',
        "genesis": GENESIS_HASH,
    }
    return [("SELECT pg_advisory_xact_lock(%s)", [_CHAIN_LOCK_KEY]), (_APPEND_SQL, params)], fields


def audit_event_record(
    *,
    actor: Actor,
    action: str,
    obj: models.Model | None = None,
    payload: Mapping[str, Any] | None = None,
    institution_id: int | None = None,
) -> AuditEvent:
    """Append one event to the chain, inside the caller's transaction (see ``audit_event_statements``)."""
    statements, fields = audit_event_statements(
        actor=actor, action=action, obj=obj, payload=payload, institution_id=institution_id
    )
    with transaction.atomic(savepoint=False):
        (pk, seq, prev_hash, digest), *_rest = execute_pipeline(statements, prepare=True)[-1]
    return AuditEvent(pk=pk, seq=seq, prev_hash=prev_hash, hash=digest, **fields)


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
