"""The hash-chained audit trail: appending events, chaining them, and verifying the chain.

Each event's hash is SHA-256 over the canonical JSON (sorted keys, no spaces,
UTF-8) of its sequence number, time (UTC, microseconds), actor, action,
object, payload and the previous event's hash.

An event is appended *unchained*, in the transaction of what it records, with no lock that another writer
holds: a lookup never waits for another lookup's commit. One sequencer (``audit_chain_sequence``, every few
seconds, and before each verification) then takes the committed unchained events in id order, in batches,
under the chain's advisory lock, and fills in their sequence number, previous hash and hash. Chain order is
therefore the order of chaining, and a rolled-back transaction leaves no gap, since it never had a number.

Verification (``audit_chain_verify``) starts from the last verified head (``AuditCheckpoint``) and walks what
was chained since; ``full=True`` walks from the genesis.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, models, transaction
from django.utils import timezone, translation
from django.utils.functional import Promise
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from core.sql import execute_pipeline
from members.models import AuditCheckpoint, AuditEvent

logger = logging.getLogger(__name__)

GENESIS_HASH = "0" * 64
# Arbitrary fixed key of the advisory lock the sequencer holds while it chains: one chainer at a time.
# Appends never take it.
_CHAIN_LOCK_KEY = 7_314_227_001
SEQUENCE_CHUNK = 10_000


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


# Appends one event, unchained: its place in the chain (seq, prev_hash, hash) is the sequencer's to fill.
_APPEND_SQL = """
    INSERT INTO members_auditevent (occurred_at, actor_type, actor_id, actor_label, action, object_type,
        object_id, object_repr, payload, institution_id)
    VALUES (%(occurred_at)s, %(actor_type)s, %(actor_id)s, %(actor_label)s, %(action)s,
        %(object_type)s, %(object_id)s, %(object_repr)s, %(payload)s::jsonb, %(institution_id)s::bigint)
    RETURNING id
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
    """The statement that appends one event, unchained, inside the caller's transaction, and the event's fields.

    No lock: concurrent writers append side by side, and the sequencer chains what they committed.
    A caller on a hot path sends it in its own pipeline (``core.sql.execute_pipeline``) with its other writes.

    ``payload`` must never contain a secret (API keys, the pepper) or a raw identifier; it goes
    through a JSON round trip first so that the hashed form is exactly what the database gives
    back. ``institution_id`` names the member the event concerns when neither the object nor the
    actor says it.
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
    params = {**fields, "payload": json.dumps(fields["payload"], ensure_ascii=False)}
    return [(_APPEND_SQL, params)], fields


def audit_event_record(
    *,
    actor: Actor,
    action: str,
    obj: models.Model | None = None,
    payload: Mapping[str, Any] | None = None,
    institution_id: int | None = None,
) -> AuditEvent:
    """Append one event, unchained, inside the caller's transaction (see ``audit_event_statements``)."""
    statements, fields = audit_event_statements(
        actor=actor, action=action, obj=obj, payload=payload, institution_id=institution_id
    )
    with transaction.atomic(savepoint=False):
        ((pk,),) = execute_pipeline(statements, prepare=True)[-1]
    return AuditEvent(pk=pk, **fields)


# The oldest committed unchained events, in the order they were appended.
_CHAIN_SQL = """
    UPDATE members_auditevent e SET seq = u.seq, prev_hash = u.prev_hash, hash = u.hash
    FROM unnest(%s::bigint[], %s::timestamptz[], %s::bigint[], %s::text[], %s::text[])
        AS u(id, occurred_at, seq, prev_hash, hash)
    WHERE e.id = u.id AND e.occurred_at = u.occurred_at AND e.hash IS NULL
"""


def _chain_head() -> tuple[int, str]:
    head = AuditEvent.objects.filter(seq__isnull=False).order_by("-seq").values_list("seq", "hash").first()
    return head or (0, GENESIS_HASH)


def audit_chain_sequence(*, limit: int = SEQUENCE_CHUNK, max_batches: int | None = None) -> int:
    """Chain the committed unchained events, oldest appended first, ``limit`` a transaction, until none are left
    (or ``max_batches`` were chained). Returns how many were chained.

    Each batch holds the chain's lock: a second sequencer waits, then continues after the first one's head.
    """
    chained = 0
    batches = 0
    while max_batches is None or batches < max_batches:
        with transaction.atomic():
            execute_pipeline([("SELECT pg_advisory_xact_lock(%s)", [_CHAIN_LOCK_KEY])])
            events = list(AuditEvent.objects.filter(hash__isnull=True).order_by("id")[:limit])
            if not events:
                break
            seq, prev_hash = _chain_head()
            for event in events:
                seq += 1
                event.seq, event.prev_hash = seq, prev_hash
                event.hash = prev_hash = _stored_hash(event)
            with connection.cursor() as cursor:
                cursor.execute(
                    _CHAIN_SQL,
                    [
                        [event.pk for event in events],
                        [event.occurred_at for event in events],
                        [event.seq for event in events],
                        [event.prev_hash for event in events],
                        [event.hash for event in events],
                    ],
                )
                if cursor.rowcount != len(events):
                    raise RuntimeError(f"audit chain: {len(events) - cursor.rowcount} events changed while chained")
        chained += len(events)
        batches += 1
    return chained


@dataclass(frozen=True)
class Unchained:
    events: int
    oldest: dt.datetime | None

    @property
    def stalled(self) -> bool:
        """An event has waited longer than the sequencer should ever let it (its job is not running)."""
        limit = dt.timedelta(seconds=settings.RISKSHARE_AUDIT_UNCHAINED_ALERT_SECONDS)
        return self.oldest is not None and timezone.now() - self.oldest > limit


def audit_unchained() -> Unchained:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*), min(occurred_at) FROM members_auditevent WHERE hash IS NULL")
        events, oldest = cursor.fetchone()
    return Unchained(events, oldest)


@dataclass(frozen=True)
class ChainVerification:
    ok: bool
    checked: int
    broken_seq: int | None = None
    problem: str = ""
    head_hash: str = GENESIS_HASH
    head_seq: int = 0
    # The first event this verification walked: 1 for a full walk, else the one after the last verified head.
    from_seq: int = 1
    full: bool = True
    unchained: Unchained = Unchained(0, None)


def audit_chain_verify(*, full: bool = False) -> ChainVerification:
    """Chain what is waiting, then walk the chain in order and report the first event that does not fit.

    Without ``full`` the walk starts at the latest verified head (``AuditCheckpoint``), after checking that the
    event there is still the one verified: the nightly cost is what was chained since. With ``full``, or
    when nothing was verified yet, it starts at the genesis. An intact walk records the new verified head.

    Detects an edited row (its hash no longer matches its content), a deleted row (a gap in the sequence,
    or a previous-hash that points elsewhere), an inserted one (a sequence number twice) and reordered rows
    (a row's content hashed for another position). Deleting the newest events is detectable against a
    verified head (the checkpoints, and the head hash ``audit_verify`` prints for operators to record).
    """
    audit_chain_sequence()
    unchained = audit_unchained()
    anchor = None if full else AuditCheckpoint.objects.order_by("-seq", "-pk").first()
    expected_seq, prev_hash = 1, GENESIS_HASH
    if anchor is not None and anchor.seq > 0:
        at_anchor = list(AuditEvent.objects.filter(seq=anchor.seq)[:2])
        if len(at_anchor) != 1 or at_anchor[0].hash != anchor.hash or _stored_hash(at_anchor[0]) != anchor.hash:
            return ChainVerification(
                False,
                0,
                anchor.seq,
                f"event {anchor.seq} is no longer the one verified on {anchor.verified_at:%Y-%m-%d %H:%M}",
                anchor.hash,
                anchor.seq,
                anchor.seq,
                False,
                unchained,
            )
        expected_seq, prev_hash = anchor.seq + 1, anchor.hash
    from_seq = expected_seq
    checked = 0
    partial = {"from_seq": from_seq, "full": anchor is None, "unchained": unchained}
    events = AuditEvent.objects.filter(seq__gte=from_seq).order_by("seq", "id")
    for event in events.iterator(chunk_size=2000):
        if event.seq == expected_seq - 1:
            problem = f"event {event.seq} appears twice"
            return ChainVerification(False, checked, event.seq, problem, prev_hash, expected_seq - 1, **partial)
        if event.seq != expected_seq:
            problem = f"event {expected_seq} is missing (next is {event.seq})"
            return ChainVerification(False, checked, expected_seq, problem, prev_hash, expected_seq - 1, **partial)
        if event.prev_hash != prev_hash:
            problem = f"event {event.seq} does not follow event {event.seq - 1}"
            return ChainVerification(False, checked, event.seq, problem, prev_hash, expected_seq - 1, **partial)
        if _stored_hash(event) != event.hash:
            problem = f"event {event.seq} was altered after it was written"
            return ChainVerification(False, checked, event.seq, problem, prev_hash, expected_seq - 1, **partial)
        prev_hash = event.hash
        expected_seq += 1
        checked += 1
    head_seq = expected_seq - 1
    if checked or anchor is None:
        AuditCheckpoint.objects.create(
            seq=head_seq, hash=prev_hash, from_seq=from_seq, checked=checked, full=anchor is None
        )
    if unchained.stalled:
        logger.error("%s audit events unchained, the oldest since %s", unchained.events, unchained.oldest)
    return ChainVerification(True, checked, None, "", prev_hash, head_seq, **partial)


def audit_verified_payload(result: ChainVerification) -> dict[str, Any]:
    """What the ``audit.verified`` event says about a verification."""
    return {
        "ok": result.ok,
        "checked": result.checked,
        "broken_seq": result.broken_seq,
        "from_seq": result.from_seq,
        "head_seq": result.head_seq,
        "head_hash": result.head_hash,
        "full": result.full,
    }


def audit_verified_text(result: ChainVerification) -> str:
    """An intact verification as an operator reads it."""
    if result.full:
        return gettext("Audit chain intact: %(count)d events, head hash %(hash)s.") % {
            "count": result.checked,
            "hash": result.head_hash,
        }
    return gettext(
        "Audit chain intact up to event %(seq)d: %(count)d new events checked from event %(from)d, head hash %(hash)s."
    ) % {"seq": result.head_seq, "count": result.checked, "from": result.from_seq, "hash": result.head_hash}


def collect_metrics():
    """Prometheus gauges (``RISKSHARE_METRICS_COLLECTORS``): the events waiting for the sequencer."""
    from prometheus_client.core import GaugeMetricFamily

    unchained = audit_unchained()
    yield GaugeMetricFamily(
        "riskshare_audit_unchained_events", "Audit events appended and not chained yet.", value=unchained.events
    )
    age = (timezone.now() - unchained.oldest).total_seconds() if unchained.oldest else 0
    yield GaugeMetricFamily(
        "riskshare_audit_unchained_oldest_seconds",
        "How long the oldest unchained audit event has waited (alert past RISKSHARE_AUDIT_UNCHAINED_ALERT_SECONDS).",
        value=age,
    )
