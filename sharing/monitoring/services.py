"""Watches: a member's own borrowers, registered after lending. Watching is never an inquiry.

Written set-based like batches (sharing.records.submission): a checked request
(sharing.monitoring.contracts) goes to PostgreSQL in pipelined slices, each slice's rows as one JSON
array and its identifiers as one buffer of peppered tokens; the whole request commits or nothing does.
"""

from __future__ import annotations

import base64
import datetime as dt
import os
import uuid
from typing import Any

import orjson
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from core.errors import ConflictError
from core.gcpause import gc_paused
from core.jobs import job_enqueue
from core.sql import pipeline
from members.audit import Actor, audit_event_record
from members.models import Credential
from sharing.common.contracts import record_error
from sharing.monitoring.contracts import ValidWatch, WatchesCheck
from sharing.monitoring.events import deliveries_enqueue
from sharing.monitoring.models import Watch, WebhookDelivery, WebhookEndpoint
from sharing.monitoring.outbound import endpoint_url_check
from sharing.records.idempotency import idempotency_claim, idempotency_complete, idempotency_release
from sharing.tokens.pepper import TOKEN_AT_N, pepper_tokens
from sharing.tokens.sealing import seal, unseal

# Arbitrary fixed first key of the advisory lock that serializes one member's watch writes (the limit).
_WATCH_LOCK_CLASS = 731_422_721
WRITE_SLICE = 2_500

_UPSERT_SQL = """
    INSERT INTO sharing_watch (member_id, reference, consent_reference, key_version, expires_on,
                               identifier_types, created_at, updated_at)
    SELECT %(member)s, e->>0, %(consent)s, %(key_version)s, (e->>1)::date, string_to_array(e->>2, ','),
           %(now)s, %(now)s
    FROM jsonb_array_elements(%(rows)s::jsonb) AS e
    ON CONFLICT (member_id, reference) DO UPDATE SET
        consent_reference = EXCLUDED.consent_reference,
        key_version = EXCLUDED.key_version,
        expires_on = EXCLUDED.expires_on,
        identifier_types = EXCLUDED.identifier_types,
        updated_at = EXCLUDED.updated_at
    RETURNING id, reference, (xmax = 0) AS inserted
"""

_TOKENS_SQL = f"""
    INSERT INTO sharing_watchtoken (watch_id, id_type, token)
    SELECT w, t, {TOKEN_AT_N}
    FROM (
        SELECT w, t, (o - 1)::int AS n
        FROM unnest(string_to_array(%(ids)s, ',')::bigint[], string_to_array(%(types)s, ','))
            WITH ORDINALITY AS u(w, t, o)
    ) AS u
"""  # noqa: S608 - only the fixed TOKEN_AT_N is formatted in

# Kept by the watch table's triggers (MemberWatchCount): no count(*) over the member's watches.
_COUNT_SQL = "SELECT coalesce((SELECT watches FROM sharing_memberwatchcount WHERE member_id = %s), 0)"


def watches_put(*, credential: Credential, idempotency_key: str, body_hash: str, check: WatchesCheck) -> dict[str, Any]:
    """Register or replace checked watches: the answer lists invalid rows; valid ones are written, all or none."""
    claim = idempotency_claim(member_id=credential.institution_id, key=idempotency_key, body_hash=body_hash)
    if claim.key_id is None:
        return claim.replay_body
    try:
        with gc_paused(), transaction.atomic():  # 10,000 watches' objects, none in a cycle
            answer = _watches_write(credential=credential, check=check)
            idempotency_complete(key_id=claim.key_id, status=200, body=answer)
    except BaseException:
        idempotency_release(key_id=claim.key_id)
        raise
    return answer


def _watches_write(*, credential: Credential, check: WatchesCheck) -> dict[str, Any]:
    member_id = credential.institution_id
    now = timezone.now()
    errors = list(check.errors)
    # Lock order is reference order: two requests of one member cannot deadlock.
    valid = sorted(check.valid, key=lambda watch: watch.reference)
    kept: list[ValidWatch] = []
    # The count, the probe only near the limit, and pipelined slices (PostgreSQL writes one while Python peppers
    # the next): a 10,000-watch POST 0.93 × a batch POST instead of 1.24 (A/B, 3 rounds, docs/performance.md).
    with pipeline() as pipe:
        pipe.send([("SELECT pg_advisory_xact_lock(%s, %s)", [_WATCH_LOCK_CLASS, member_id])], answered=False)
        ((existing,),) = pipe.fetch(_COUNT_SQL, [member_id])
        kept = _within_limit(pipe, member_id, valid, room=settings.RISKSHARE_WATCHES_PER_MEMBER - existing)
        if len(kept) < len(valid):
            fitting = {watch.index for watch in kept}
            errors.extend(record_error(w.index, "", "watch_limit") for w in valid if w.index not in fitting)
        for start in range(0, len(kept), WRITE_SLICE):
            part = kept[start : start + WRITE_SLICE]
            rows = orjson.dumps(
                [(w.reference, w.expires_on, ",".join([t for t, _token in w.identifiers])) for w in part]
            ).decode()
            peppered = pepper_tokens(token for w in part for _type, token in w.identifiers)
            written = pipe.fetch(
                _UPSERT_SQL,
                {
                    "member": member_id,
                    "consent": check.consent_reference,
                    "key_version": check.key_version,
                    "now": now,
                    "rows": rows,
                },
            )
            ids = {reference: watch_id for watch_id, reference, _inserted in written}
            replaced = [watch_id for watch_id, _reference, inserted in written if not inserted]
            if replaced:  # a new watch has no tokens yet
                pipe.send([("DELETE FROM sharing_watchtoken WHERE watch_id = ANY(%s)", [replaced])], answered=False)
            pipe.send(
                [
                    (
                        _TOKENS_SQL,
                        {
                            "ids": ",".join([str(ids[w.reference]) for w in part for _pair in w.identifiers]),
                            "types": ",".join([t for w in part for t, _token in w.identifiers]),
                            "tokens": b"".join(peppered),
                        },
                    )
                ],
                answered=False,
            )
    if valid and not kept:
        raise ConflictError(_("This member has reached its limit of watches."), code="watch_limit")
    errors.sort(key=lambda entry: entry["index"])
    rejected = len({entry["index"] for entry in errors})
    answer = {"accepted": check.received - rejected, "rejected": rejected, "errors": errors}
    audit_event_record(
        actor=Actor.credential(credential),
        action="watches.put",
        payload={"received": check.received, "accepted": answer["accepted"], "rejected": rejected},
    )
    return answer


def _within_limit(pipe, member_id: int, valid: list[ValidWatch], *, room: int) -> list[ValidWatch]:
    """The watches that fit the member's limit: all of them unless the request could cross it.

    Only then are the known references looked up, since replacing a watch takes no room.
    """
    if len(valid) <= room:
        return valid
    known = {
        reference
        for (reference,) in pipe.fetch(
            "SELECT reference FROM sharing_watch WHERE member_id = %s AND reference = ANY(%s)",
            [member_id, [watch.reference for watch in valid]],
        )
    }
    kept = []
    for watch in valid:
        if watch.reference not in known:
            if room <= 0:
                continue
            room -= 1
        kept.append(watch)
    return kept


def watch_delete(*, credential: Credential, watch: Watch) -> None:
    """The loan ended: the watch and its tokens go at once, so no later job finds it."""
    with transaction.atomic():
        deleted, _details = Watch.objects.filter(pk=watch.pk).delete()
        if deleted:
            audit_event_record(
                actor=Actor.credential(credential),
                action="watch.deleted",
                payload={"watch": watch.pk, "reference": watch.reference},
            )


# A member's webhook endpoints: register, rotate the signing secret, replay, test, delete.
#
# The signing secret must be usable to sign every delivery, so it cannot be kept only as a digest: it is
# sealed at rest (sharing.tokens.sealing, bound to the endpoint's id) and shown to the member once.
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
