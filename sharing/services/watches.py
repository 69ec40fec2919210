"""Watches: a member's own borrowers, registered after lending. Watching is never an inquiry.

Written set-based like batches (sharing.services.submission): a checked request
(sharing.contracts.watches) goes to PostgreSQL in pipelined slices, each slice's rows as one JSON
array and its identifiers as one buffer of peppered tokens; the whole request commits or nothing does.
"""

from __future__ import annotations

from typing import Any

import orjson
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from core.errors import ConflictError
from core.gcpause import gc_paused
from core.sql import pipeline
from members.audit import Actor, audit_event_record
from members.models import Credential
from sharing.contracts.batches import record_error
from sharing.contracts.watches import ValidWatch, WatchesCheck
from sharing.models import Watch
from sharing.services.idempotency import idempotency_claim, idempotency_complete, idempotency_release
from sharing.tokens import TOKEN_AT_N, pepper_tokens

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
    # In slices, so that PostgreSQL writes one slice while Python peppers the next (as batches do).
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
