"""Watches: a member's own borrowers, registered after lending. Watching is never an inquiry.

Written set-based like batches: the rows of a request go to PostgreSQL as one JSON array, the
identifiers as one buffer of peppered tokens; the whole request commits or nothing does.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec
import orjson
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from core.clock import business_today
from core.errors import BodyTooLarge, ConflictError, DomainError, MalformedBody
from core.sql import execute_binary
from members.audit import Actor, audit_event_record
from members.models import Credential
from sharing.contracts_monitoring import (
    MAX_WATCHES,
    WATCH_YEARS_AHEAD,
    WatchIn,
    consent_reference_clean,
    problem_of,
    row_error,
    watches_decode,
)
from sharing.models import Watch
from sharing.selectors import key_versions
from sharing.services.idempotency import idempotency_claim, idempotency_complete, idempotency_release, request_hash
from sharing.tokens import TOKEN_AT_N, pepper_tokens

# Arbitrary fixed first key of the advisory lock that serializes one member's watch writes (the limit).
_WATCH_LOCK_CLASS = 731_422_721

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


def _body_parse(body: bytes):
    try:
        return watches_decode(body)
    except msgspec.ValidationError as exc:
        field, code = problem_of(exc)
        if field == "/watches" and code == "bad_count":
            raise DomainError(_("A request holds at least one watch."), code="bad_count", field=field) from None
        raise DomainError(str(exc).split(" - at `")[0], code=code, field=field) from None
    except msgspec.DecodeError:
        raise MalformedBody(_("The request body is not valid JSON.")) from None


def watches_put(*, credential: Credential, idempotency_key: str, body: bytes) -> dict[str, Any]:
    """Register or replace watches: the answer lists invalid rows; valid ones are written, all or none."""
    envelope, rows, errors = _body_parse(body)
    if len(rows) > MAX_WATCHES:
        raise BodyTooLarge(_("A request holds at most %(max)d watches.") % {"max": MAX_WATCHES})
    consent = consent_reference_clean(envelope.consent_reference)
    if consent is None:
        raise DomainError(
            _("A consent reference has 4 to 200 visible characters."),
            code="bad_consent_reference",
            field="/consent_reference",
        )
    current, _retired = key_versions()
    if envelope.key_version not in current:
        raise DomainError(_("This key version is not a current one."), code="unknown_key_version", field="/key_version")
    member_id = credential.institution_id
    claim = idempotency_claim(member_id=member_id, key=idempotency_key, body_hash=request_hash(body))
    if claim.key_id is None:
        return claim.replay_body
    try:
        valid = _rows_check(rows, errors, today=business_today())
        with transaction.atomic():
            answer = _watches_write(
                credential=credential,
                received=len(rows),
                valid=valid,
                errors=errors,
                consent=consent,
                key_version=envelope.key_version,
            )
            idempotency_complete(key_id=claim.key_id, status=200, body=answer)
    except BaseException:
        idempotency_release(key_id=claim.key_id)
        raise
    return answer


def _rows_check(
    rows: list[WatchIn | None], errors: list[dict[str, Any]], *, today: dt.date
) -> list[tuple[int, WatchIn]]:
    """The rows that pass the rules a Struct cannot hold: dates, one type per watch, one reference."""
    # 29 February ten years on may not exist: the 28th then.
    latest = today.replace(year=today.year + WATCH_YEARS_AHEAD, day=min(today.day, 28 if today.month == 2 else 31))
    seen: set[str] = set()
    valid = []
    for index, row in enumerate(rows):
        if row is None:
            continue
        problems = []
        if row.reference in seen:
            problems.append(("/reference", "duplicate_reference"))
        types = [identifier.type for identifier in row.identifiers]
        if len(set(types)) != len(types):
            problems.append(("/identifiers", "duplicate_type"))
        if row.expires_on < today:
            problems.append(("/expires_on", "past_date"))
        elif row.expires_on > latest:
            problems.append(("/expires_on", "too_far"))
        if problems:
            errors.extend(row_error(index, field, code) for field, code in problems)
            continue
        seen.add(row.reference)
        valid.append((index, row))
    return valid


def _watches_write(
    *,
    credential: Credential,
    received: int,
    valid: list[tuple[int, WatchIn]],
    errors: list[dict[str, Any]],
    consent: str,
    key_version: int,
) -> dict[str, Any]:
    member_id = credential.institution_id
    now = timezone.now()
    valid.sort(key=lambda pair: pair[1].reference)  # lock order: two requests of one member cannot deadlock
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [_WATCH_LOCK_CLASS, member_id])
        cursor.execute("SELECT count(*) FROM sharing_watch WHERE member_id = %s", [member_id])
        existing = cursor.fetchone()[0]
        cursor.execute(
            "SELECT reference FROM sharing_watch WHERE member_id = %s AND reference = ANY(%s)",
            [member_id, [row.reference for _index, row in valid]],
        )
        known = {reference for (reference,) in cursor.fetchall()}
    room = settings.RISKSHARE_WATCHES_PER_MEMBER - existing
    kept = []
    for index, row in valid:
        if row.reference not in known:
            if room <= 0:
                errors.append(row_error(index, "", "watch_limit"))
                continue
            room -= 1
        kept.append(row)
    if valid and not kept:
        raise ConflictError(_("This member has reached its limit of watches."), code="watch_limit")
    if kept:
        by_type = [sorted((i.type, i.token) for i in row.identifiers) for row in kept]
        payload = orjson.dumps(
            [
                (row.reference, row.expires_on, ",".join(t for t, _token in pairs))
                for row, pairs in zip(kept, by_type, strict=True)
            ]
        ).decode()
        written = execute_binary(
            _UPSERT_SQL,
            {"member": member_id, "consent": consent, "key_version": key_version, "now": now, "rows": payload},
            fetch=True,
        )
        ids = {reference: watch_id for watch_id, reference, _inserted in written}
        watch_ids = [ids[row.reference] for row in kept]
        replaced = [watch_id for watch_id, _reference, inserted in written if not inserted]
        if replaced:  # a new watch has no tokens yet
            execute_binary("DELETE FROM sharing_watchtoken WHERE watch_id = ANY(%s)", [replaced])
        peppered = pepper_tokens(token for pairs in by_type for _type, token in pairs)
        execute_binary(
            _TOKENS_SQL,
            {
                "ids": ",".join(
                    str(watch_id) for watch_id, pairs in zip(watch_ids, by_type, strict=True) for _ in pairs
                ),
                "types": ",".join(t for pairs in by_type for t, _token in pairs),
                "tokens": b"".join(peppered),
            },
        )
    errors.sort(key=lambda entry: entry["index"])
    rejected = len({entry["index"] for entry in errors})
    answer = {"accepted": received - rejected, "rejected": rejected, "errors": errors}
    audit_event_record(
        actor=Actor.credential(credential),
        action="watches.put",
        payload={"received": received, "accepted": answer["accepted"], "rejected": rejected},
    )
    return answer


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


def watches_purge(*, today: dt.date | None = None) -> int:
    """Watches whose expiry is more than 90 days past (the daily retention job)."""
    cutoff = (today or business_today()) - dt.timedelta(days=settings.RISKSHARE_WATCH_RETENTION_DAYS)
    deleted = 0
    while True:
        with transaction.atomic():
            ids = list(Watch.objects.filter(expires_on__lt=cutoff).values_list("pk", flat=True)[:5000])
            if not ids:
                break
            deleted += Watch.objects.filter(pk__in=ids).delete()[1].get("sharing.Watch", 0)
    if deleted:
        audit_event_record(
            actor=Actor.system("retention"), action="watches.purged", payload={"watches": deleted, "before": cutoff}
        )
    return deleted
