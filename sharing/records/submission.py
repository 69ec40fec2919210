"""Batch submission: a checked batch (sharing.records.contracts) written with set-based SQL, matched after commit."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import orjson
from django.db import transaction
from django.utils import timezone

from core.gcpause import gc_paused
from core.sql import execute_binary, pipeline
from members.audit import Actor, audit_event_record
from members.models import Credential
from sharing.common.contracts import record_error
from sharing.records.contracts import BatchCheck, ValidRecord
from sharing.records.idempotency import idempotency_claim, idempotency_complete, idempotency_release
from sharing.records.matching import tokens_mark_dirty
from sharing.records.models import Batch
from sharing.records.services import batch_enqueue
from sharing.tlog import leaf
from sharing.tlog.services import APPEND_SQL, Change, append_params
from sharing.tokens.pepper import TOKEN_AT_N, pepper_tokens

# The columns a re-send compares: when none differs, the record is left as it is, except that a loan's
# re-send is its monthly report: reported_at and batch_id move (it is no longer stale, and its batch's
# job recomputes it; the row history keeps that version), updated_at does not.
_FACTS = (
    "kind, category, event_date, resolved_date, overdue_days, overdue_amount, currency, product, key_version, "
    "identifiers_digest, credit_limit, outstanding_balance, maturity_date, origination_partner, relief, relief_start, "
    "relief_end, new_maturity_date"
)
_CHANGED = "({old}) IS DISTINCT FROM ({new})".format(
    old=", ".join(f"sharing_record.{column}" for column in _FACTS.split(", ")),
    new=", ".join(f"EXCLUDED.{column}" for column in _FACTS.split(", ")),
)

_UPSERT_SQL = f"""
    INSERT INTO sharing_record (
        member_id, reference, kind, category, status, event_date, resolved_date, overdue_days, overdue_amount,
        currency, product, key_version, identifiers_digest, identifier_types, retract_reason, batch_id,
        credit_limit, outstanding_balance, maturity_date, origination_partner, relief, relief_start, relief_end,
        new_maturity_date, created_at, updated_at, reported_at)
    SELECT %(member)s, t.reference, t.kind, t.category,
           CASE WHEN t.resolved_date IS NULL THEN 'active' ELSE 'resolved' END,
           t.event_date, t.resolved_date, t.overdue_days, t.overdue_amount::numeric, t.currency, t.product,
           t.key_version, t.digest, string_to_array(t.types, ','), '', %(batch)s,
           t.credit_limit::numeric, t.outstanding_balance::numeric, t.maturity_date, t.origination_partner,
           t.relief, t.relief_start, t.relief_end, t.new_maturity_date, %(now)s, %(now)s, %(now)s
    FROM (
        -- The rows of _records_payload.
        SELECT e->>0 AS reference, e->>1 AS kind, e->>2 AS category, (e->>3)::date AS event_date,
               (e->>4)::date AS resolved_date, (e->>5)::int AS overdue_days, e->>6 AS overdue_amount,
               e->>7 AS currency, e->>8 AS product, (e->>9)::int AS key_version,
               decode(e->>10, 'hex') AS digest, e->>11 AS types, e->>12 AS credit_limit,
               e->>13 AS outstanding_balance, (e->>14)::date AS maturity_date, e->>15 AS origination_partner,
               e->>16 AS relief, (e->>17)::date AS relief_start, (e->>18)::date AS relief_end,
               (e->>19)::date AS new_maturity_date
        FROM jsonb_array_elements(%(records)s::jsonb) AS e
    ) AS t
    ON CONFLICT (member_id, reference) DO UPDATE SET
        kind = EXCLUDED.kind,
        category = EXCLUDED.category,
        status = CASE WHEN sharing_record.status = 'disputed' THEN 'disputed' ELSE EXCLUDED.status END,
        event_date = EXCLUDED.event_date,
        resolved_date = EXCLUDED.resolved_date,
        overdue_days = EXCLUDED.overdue_days,
        overdue_amount = EXCLUDED.overdue_amount,
        currency = EXCLUDED.currency,
        product = EXCLUDED.product,
        key_version = EXCLUDED.key_version,
        identifiers_digest = EXCLUDED.identifiers_digest,
        identifier_types = EXCLUDED.identifier_types,
        credit_limit = EXCLUDED.credit_limit,
        outstanding_balance = EXCLUDED.outstanding_balance,
        maturity_date = EXCLUDED.maturity_date,
        origination_partner = EXCLUDED.origination_partner,
        relief = EXCLUDED.relief,
        relief_start = EXCLUDED.relief_start,
        relief_end = EXCLUDED.relief_end,
        new_maturity_date = EXCLUDED.new_maturity_date,
        batch_id = EXCLUDED.batch_id,
        updated_at = CASE WHEN {_CHANGED} THEN EXCLUDED.updated_at ELSE sharing_record.updated_at END,
        reported_at = EXCLUDED.reported_at
    WHERE sharing_record.status <> 'retracted'
      AND (EXCLUDED.kind = 'loan' OR {_CHANGED})
    RETURNING id, reference, (xmax = 0) AS inserted, log_salt
"""  # noqa: S608 - only the fixed column lists are formatted in


# Row n (from 0) of the ids and types takes the n-th 32 bytes of the tokens buffer.
_SENT_IDENTIFIERS = f"""
    SELECT r, t, {TOKEN_AT_N} AS token
    FROM (
        SELECT r, t, (o - 1)::int AS n
        FROM unnest(string_to_array(%(ids)s, ',')::bigint[], string_to_array(%(types)s, ','))
            WITH ORDINALITY AS u(r, t, o)
    ) AS u
"""  # noqa: S608 - only the fixed TOKEN_AT_N is formatted in

# An updated record keeps the identifiers it is sent with again (a monthly loan re-send changes its
# balance, seldom its identifiers): only the others are deleted, their tokens recomputed as dirty.
_IDENTIFIERS_GONE_SQL = f"""
    WITH sent AS ({_SENT_IDENTIFIERS})
    DELETE FROM sharing_recordidentifier ri
    WHERE ri.record_id = ANY(string_to_array(%(updated)s, ',')::bigint[])
      AND NOT EXISTS (SELECT 1 FROM sent WHERE sent.r = ri.record_id AND sent.t = ri.id_type AND sent.token = ri.token)
    RETURNING ri.token
"""  # noqa: S608 - only fixed SQL is formatted in

_IDENTIFIERS_SQL = f"""
    INSERT INTO sharing_recordidentifier (record_id, id_type, token)
    {_SENT_IDENTIFIERS}
    ON CONFLICT (record_id, id_type) DO NOTHING
"""

WRITE_SLICE = 2_500

# A record's identifiers digest (stored; a re-send whose digest differs changed its identifiers) is SHA-256
# over b"<type>\0<peppered token>" for each identifier, by type: these bytes must never change.
# The prefixes, b"<type>\0", are built once per type.
_DIGEST_PREFIXES: dict[str, bytes] = {}


def _records_payload(valid: list[ValidRecord]) -> tuple[str, dict[str, list[tuple[str, bytes]]]]:
    """The upsert's rows as one JSON array, and each record's (type, peppered token) pairs sorted by type."""
    by_type = [sorted(r.identifiers) for r in valid]  # types are unique within a record
    at_rest = iter(pepper_tokens(token for pairs in by_type for _type, token in pairs))
    sha256 = hashlib.sha256
    prefixes = _DIGEST_PREFIXES
    peppered: dict[str, list[tuple[str, bytes]]] = {}
    rows = []
    for r, sent in zip(valid, by_type, strict=True):
        pairs = peppered[r.reference] = [(id_type, next(at_rest)) for id_type, _token in sent]
        digest = sha256(
            b"".join([(prefixes.get(t) or prefixes.setdefault(t, t.encode() + b"\0")) + token for t, token in pairs])
        )
        rows.append(
            (
                r.reference,
                r.kind,
                r.category,
                r.event_date,
                r.resolved_date,
                r.overdue_days,
                r.overdue_amount,
                r.currency,
                r.product,
                r.key_version,
                digest.hexdigest(),
                ",".join([id_type for id_type, _token in pairs]),
                r.credit_limit,
                r.outstanding_balance,
                r.maturity_date,
                r.origination_partner,
                r.relief,
                r.relief_start,
                r.relief_end,
                r.new_maturity_date,
            )
        )
    # One JSON array of rows: dumped by orjson in C, where twelve array parameters cost ~25 ms a batch
    # to build element by element in Python.
    return orjson.dumps(rows).decode(), peppered


def _as_sent(record: ValidRecord) -> dict[str, Any]:
    fields = record._asdict()
    del fields["index"]  # its place in the request, not part of the record
    return fields


def _log_changes(member_id: int, valid: list[ValidRecord], start: int, rows: list[tuple]) -> list[Change]:
    """The log's leaves for the records a slice wrote: each record as the member sent it (sharing.tlog.leaf)."""
    sent = {r.reference: r for r in valid[start : start + WRITE_SLICE]}
    record_change = leaf.record_change
    return [
        Change(
            kind=leaf.REPORTED if inserted else leaf.UPDATED,
            member_id=member_id,
            record_id=record_id,
            reference=reference,
            salt=bytes(salt),
            change=record_change(_as_sent(sent[reference])),
        )
        for record_id, reference, inserted, salt in rows
    ]


@dataclass(frozen=True)
class BatchReceipt:
    """What the member is answered: ``{"id", "status", "received", "accepted", "rejected", "errors"}``.

    ``replayed``: the answer stored for an earlier request with the same Idempotency-Key and body.
    """

    answer: dict[str, Any]
    replayed: bool = False


def batch_submit(*, credential: Credential, idempotency_key: str, body_hash: str, check: BatchCheck) -> BatchReceipt:
    """Accept a checked batch: its valid records are stored, its invalid ones reported, matching queued."""
    claim = idempotency_claim(member_id=credential.institution_id, key=idempotency_key, body_hash=body_hash)
    if claim.key_id is None:
        return BatchReceipt(claim.replay_body, replayed=True)
    try:
        with gc_paused(), transaction.atomic():  # the write builds 10,000 rows' objects too
            answer = _batch_write(
                credential=credential, received=check.received, valid=check.valid, errors=list(check.errors)
            )
            idempotency_complete(key_id=claim.key_id, status=None, body=answer)
    except BaseException:
        idempotency_release(key_id=claim.key_id)
        raise
    return BatchReceipt(answer)


def _batch_write(
    *, credential: Credential, received: int, valid: list[ValidRecord], errors: list[dict[str, Any]]
) -> dict[str, Any]:
    member_id = credential.institution_id
    now = timezone.now()
    # Lock order is reference order, so two batches of one member touching the same records cannot deadlock;
    # disputes take records in (member, reference) order for the same reason.
    valid.sort(key=lambda record: record.reference)
    batch = Batch.objects.create(
        member_id=member_id,
        credential=credential,
        received=received,
        accepted=0,
        rejected=0,
        created_at=now,
        updated_at=now,
    )
    changed: list[tuple[int, str, bool, bytes]] = []
    # In slices, so that PostgreSQL writes one slice while Python peppers the next: a 10,000-record
    # batch's Python work (~50 ms) overlaps with its writes (~190 ms) instead of preceding them.
    with pipeline() as pipe:
        for start in range(0, len(valid), WRITE_SLICE):
            records, peppered = _records_payload(valid[start : start + WRITE_SLICE])
            rows = pipe.fetch(_UPSERT_SQL, {"member": member_id, "batch": batch.pk, "now": now, "records": records})
            changed.extend(rows)
            if not rows:
                continue
            # Three values a row: joined strings and one buffer of 32-byte tokens cost ~20 ms per
            # 20,000 rows where three array parameters, built element by element in Python, cost ~35 ms.
            record_ids, types, tokens = [], [], []
            for record_id, reference, _inserted, _salt in rows:
                for id_type, token in peppered[reference]:
                    record_ids.append(record_id)
                    types.append(id_type)
                    tokens.append(token)
            sent = {"ids": ",".join(map(str, record_ids)), "types": ",".join(types), "tokens": b"".join(tokens)}
            updated_ids = [row[0] for row in rows if not row[2]]
            if updated_ids:
                # Updated records: the tokens they no longer carry may lose a record, so they are recomputed too.
                pipe.send([(_IDENTIFIERS_GONE_SQL, {**sent, "updated": ",".join(map(str, updated_ids))})])
            pipe.send([(_IDENTIFIERS_SQL, sent)], answered=False)
            # The log's leaves are built while PostgreSQL inserts the identifiers (sent just above).
            leaves = append_params(_log_changes(member_id, valid, start, rows), batch_id=batch.pk, now=now)
            pipe.send([(APPEND_SQL, leaves)], answered=False)
    dirty = [bytes(token) for removed in pipe.results for (token,) in removed]
    if len(changed) < len(valid):
        # Not written: unchanged re-sends (fine) and retracted records (refused).
        written = {row[1] for row in changed}
        rows = execute_binary(
            "SELECT reference FROM sharing_record WHERE member_id = %s AND reference = ANY(%s) "
            "AND status = 'retracted'",
            [member_id, [r.reference for r in valid if r.reference not in written]],
            fetch=True,
        )
        retracted = {row[0] for row in rows}
        errors.extend(
            record_error(r.index, "/reference", "record_retracted") for r in valid if r.reference in retracted
        )
    errors.sort(key=lambda entry: entry["index"])
    rejected = len({entry["index"] for entry in errors})
    batch.accepted, batch.rejected, batch.errors = received - rejected, rejected, errors
    batch.save(update_fields=["accepted", "rejected", "errors"])
    # Tokens an update took away from a record; the batch's job finds the others by batch id
    # (sharing.records.matching.batch_match), outside this request.
    tokens_mark_dirty(dirty)
    answer = {
        "id": batch.pk,
        "status": batch.status,
        "received": received,
        "accepted": batch.accepted,
        "rejected": rejected,
        "errors": errors,
    }
    audit_event_record(
        actor=Actor.credential(credential),
        action="batch.accepted",
        obj=batch,
        payload={"received": received, "accepted": batch.accepted, "rejected": rejected, "changed": len(changed)},
    )
    batch_id = batch.pk
    # The batch is committed and answered either way; the sweep re-enqueues it from its row.
    transaction.on_commit(lambda: batch_enqueue(batch_id=batch_id))
    return answer
