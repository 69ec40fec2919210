"""Writes of the verifiable log: leaves appended in each record change's transaction, the sequencer that
gives them indices and extends the tiles, the checkpoints it signs. Django side.

The sequencer is the one writer of indices: it holds the ``LogState`` row's lock while it numbers
the pending leaves from the current size on, so indices are contiguous whatever rolled back, and
concurrent record changes never wait for each other on a counter.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from core.errors import DomainError, NotFoundError
from core.sql import execute_binary, pipeline
from members.audit import Actor, audit_event_record, audit_event_statements
from sharing.tlog import history, leaf, merkle, note, tiles
from sharing.tlog.models import LogCheckpoint, LogState
from sharing.tlog.signing import checkpoint_sign, log_name, log_verifier_key

SEQUENCE_CHUNK = 50_000


def b64(value: bytes) -> str:
    return base64.b64encode(value).decode()


class Change(NamedTuple):
    """One record change as the log takes it: the canonical change and the record's salt stay here."""

    kind: str
    member_id: int | None
    record_id: int | None  # None for the governance registers' changes (partners, flags, policy cards)
    reference: str
    salt: bytes
    change: bytes


# The leaves of one write, one row (LogPending): digests as one buffer of 64 bytes a leaf (reference,
# record), the other columns as joined strings, the way the batch write sends identifiers (sharing.tokens.pepper).
APPEND_SQL = """
    INSERT INTO sharing_logpending (leaves, kinds, members, records, batch_id, digests, created_at)
    VALUES (%(leaves)s, %(kinds)s, %(members)s, %(records)s, %(batch)s, %(digests)s, %(now)s)
"""


def append_params(changes: Sequence[Change], *, batch_id: int | None = None, now: dt.datetime) -> dict:
    """APPEND_SQL's parameters for these changes (a pipeline on the hot path sends them itself)."""
    sha256 = hashlib.sha256
    return {
        "leaves": len(changes),
        "kinds": ",".join([c.kind for c in changes]),
        "members": ",".join(["" if c.member_id is None else str(c.member_id) for c in changes]),
        "records": ",".join(["" if c.record_id is None else str(c.record_id) for c in changes]),
        "batch": batch_id,
        "digests": b"".join(
            [sha256(c.salt + c.reference.encode()).digest() + sha256(c.salt + c.change).digest() for c in changes]
        ),
        "now": now,
    }


def log_append(changes: Sequence[Change], *, now: dt.datetime | None = None) -> None:
    """Append these changes' leaves, pending, in the caller's transaction."""
    if changes:
        execute_binary(APPEND_SQL, append_params(changes, now=now or timezone.now()))


def record_change_log(record, *, kind: str, member_id: int | None, now: dt.datetime | None = None, **state) -> None:
    """One leaf for a state change of ``record`` (resolve, retract, a dispute): its reference and the new state."""
    log_append(
        [
            Change(
                kind=kind,
                member_id=member_id,
                record_id=record.pk,
                reference=record.reference,
                salt=bytes(record.log_salt),
                change=leaf.state_change(record.reference, **state),
            )
        ],
        now=now,
    )


def register_change_log(*, kind: str, member_id: int | None, reference: str, salt: bytes, change: dict) -> None:
    """One leaf for a change of a governance register (a partner entry, a flag, a policy card): ``reference``
    names the entry (``partner:<uscc>``, ``flag:<id>``, ``policy:<version>``), ``change`` is what was sent."""
    log_append(
        [
            Change(
                kind=kind,
                member_id=member_id,
                record_id=None,
                reference=reference,
                salt=salt,
                change=leaf.canonical_json(change),
            )
        ]
    )


# The oldest pending rows, whole: each row taken while fewer than ``limit`` leaves come before it (so at
# least one row, and at most one row's leaves beyond ``limit``).
_PENDING_SQL = """
    SELECT id, kinds, members, records, batch_id, digests, created_at FROM (
        SELECT *, sum(leaves) OVER (ORDER BY id) - leaves AS before FROM sharing_logpending
    ) AS p
    WHERE before < %(limit)s ORDER BY id
"""

# The leaves taken apart, numbered from the log's size, each with its hash (one buffer of 32 bytes a leaf).
_SEQUENCED_SQL = """
    INSERT INTO sharing_logleaf
        (index, kind, member_id, record_id, batch_id, reference_digest, record_digest, created_at, leaf_hash)
    SELECT %(size)s::bigint + n, kind, nullif(member, '')::bigint, nullif(record, '')::bigint,
           nullif(batch, '')::bigint, substring(%(digests)s::bytea FROM n * 64 + 1 FOR 32),
           substring(%(digests)s::bytea FROM n * 64 + 33 FOR 32), time::timestamptz,
           substring(%(hashes)s::bytea FROM n * 32 + 1 FOR 32)
    FROM (
        SELECT kind, member, record, batch, time, (o - 1)::int AS n
        FROM unnest(string_to_array(%(kinds)s, ','), string_to_array(%(members)s, ','),
                    string_to_array(%(records)s, ','), string_to_array(%(batches)s, ','),
                    string_to_array(%(times)s, ','))
            WITH ORDINALITY AS t(kind, member, record, batch, time, o)
    ) AS u
"""

_TILES_SQL = """
    INSERT INTO sharing_logtile (level, index, hashes)
    SELECT * FROM unnest(%(levels)s::smallint[], %(indexes)s::bigint[], %(hashes)s::bytea[])
    ON CONFLICT (level, index) DO UPDATE SET hashes = EXCLUDED.hashes
    WHERE length(EXCLUDED.hashes) > length(sharing_logtile.hashes)
"""


def tiles_read(keys: Iterable[tiles.TileKey]) -> dict[tiles.TileKey, bytes]:
    keys = list(keys)
    if not keys:
        return {}
    rows = execute_binary(
        "SELECT level, index, hashes FROM sharing_logtile t "
        "JOIN unnest(%s::smallint[], %s::bigint[]) AS k(level, index) USING (level, index)",
        [[level for level, _ in keys], [index for _, index in keys]],
        fetch=True,
    )
    return {(level, index): bytes(hashes) for level, index, hashes in rows}


def _state_locked() -> LogState:
    execute_binary(
        "INSERT INTO sharing_logstate (id, size, root, updated_at) VALUES (1, 0, %s, now()) ON CONFLICT DO NOTHING",
        [merkle.EMPTY_ROOT],
    )
    return LogState.objects.select_for_update().get(pk=1)


@dataclass(frozen=True)
class SequenceResult:
    sequenced: int
    size: int
    checkpoint: int | None  # the size of the checkpoint signed, if one was


def log_sequence(*, limit: int = SEQUENCE_CHUNK, sign: bool = True) -> SequenceResult:
    """Number the pending leaves (oldest first, about ``limit``: whole rows), extend the tiles, sign a checkpoint
    if the log grew.

    One transaction, holding the state row's lock: a second sequencer waits, then finds nothing to do.
    """
    with transaction.atomic():
        state = _state_locked()
        size = state.size
        rows = execute_binary(_PENDING_SQL, {"limit": limit}, fetch=True)
        hashes = []
        if rows:
            leaves, hashes = _leaves_numbered(rows, size=size)
            execute_binary(_SEQUENCED_SQL, leaves)
            execute_binary("DELETE FROM sharing_logpending WHERE id = ANY(%s)", [[row[0] for row in rows]])
            partial_keys = tiles.partial_tiles(size)
            stored = tiles_read(partial_keys.values())
            partial = {level: stored[key] for level, key in partial_keys.items()}
            changed = tiles.tiles_append(size, partial, hashes)
            execute_binary(
                _TILES_SQL,
                {
                    "levels": [level for level, _ in changed],
                    "indexes": [index for _, index in changed],
                    "hashes": list(changed.values()),
                },
            )
            size += len(hashes)
            state.size = size
            state.root = tiles.TiledTree(tiles_read).hash_range(0, size)
            state.updated_at = timezone.now()
            state.save(update_fields=["size", "root", "updated_at"])
        signed = _checkpoint_sign(state) if sign else None
    return SequenceResult(sequenced=len(hashes), size=size, checkpoint=signed)


def _leaves_numbered(rows: list[tuple], *, size: int) -> tuple[dict, list[bytes]]:
    """_SEQUENCED_SQL's parameters for the pending rows, each leaf encoded at its index and hashed; the hashes."""
    hashes = []
    kinds, members, records, batches, times, digests = [], [], [], [], [], []
    seq = size
    for _id, row_kinds, row_members, row_records, batch_id, row_digests, created_at in rows:
        row_digests = bytes(row_digests)
        millis = leaf.time_millis(created_at)
        row_kinds_list = row_kinds.split(",")
        for n, (kind, member) in enumerate(zip(row_kinds_list, row_members.split(","), strict=True)):
            encoded = leaf.leaf_encode(
                seq=seq,
                kind=kind,
                member=int(member) if member else None,
                reference_digest=row_digests[n * 64 : n * 64 + 32],
                record_digest=row_digests[n * 64 + 32 : n * 64 + 64],
                time=millis,
            )
            hashes.append(merkle.leaf_hash(encoded))
            seq += 1
        count = len(row_kinds_list)
        kinds.append(row_kinds)
        members.append(row_members)
        records.append(row_records)
        batches.append(",".join(["" if batch_id is None else str(batch_id)] * count))
        times.append(",".join([created_at.isoformat()] * count))
        digests.append(row_digests)
    return {
        "size": size,
        "kinds": ",".join(kinds),
        "members": ",".join(members),
        "records": ",".join(records),
        "batches": ",".join(batches),
        "times": ",".join(times),
        "digests": b"".join(digests),
        "hashes": b"".join(hashes),
    }, hashes


def _checkpoint_sign(state: LogState) -> int | None:
    """Sign a checkpoint of the state, unless the latest one already has its size.

    Never two inconsistent: the new head is checked consistent with the latest signed one before signing.
    """
    if state.size == 0:
        return None
    latest = LogCheckpoint.objects.order_by("-size").first()
    root = bytes(state.root)
    tree = tiles.TiledTree(tiles_read)
    # Also against the checkpoint recorded outside the database: a restored database's own latest
    # checkpoint may be older than the last one published.
    history.log_signing_check(state.size, tree.hash_range)
    if latest is not None:
        if latest.size == state.size:
            return None
        proof = merkle.consistency_path(latest.size, state.size, tree.hash_range)
        if latest.size > state.size or not merkle.verify_consistency(
            latest.size, state.size, bytes(latest.root), root, proof
        ):
            raise RuntimeError(f"the log at {state.size} is not consistent with its checkpoint at {latest.size}")
    checkpoint = note.Checkpoint(log_name(), state.size, root)
    LogCheckpoint.objects.create(size=state.size, root=root, note=checkpoint_sign(checkpoint))
    audit_event_record(
        actor=Actor.system("log sequencer"),
        action="log.checkpoint_signed",
        payload={"size": state.size, "root": root.hex(), "previous": latest.size if latest else 0},
    )
    return state.size


def log_read_audit(*, actor: Actor, what: str, **parameters: int | str) -> None:
    """A member read the log (a checkpoint, a receipt): in the audit trail like other reads."""
    audit_event_record(actor=actor, action="log.read", payload={"what": what, **parameters})


# One statement, so one snapshot: the size and the tiles as one sequencer commit left them (a size read
# after the tiles could count leaves whose tiles that read did not see).
_TILES_AND_SIZE_SQL = """
    SELECT s.size, t.level, t.index, t.hashes
    FROM (SELECT coalesce((SELECT size FROM sharing_logstate WHERE id = 1), 0) AS size) AS s
    LEFT JOIN (
        sharing_logtile t JOIN unnest(%(levels)s::smallint[], %(indexes)s::bigint[]) AS k(level, index)
        USING (level, index)
    ) ON true
"""


def _tiles_audited(
    keys: Iterable[tiles.TileKey],
    *,
    actor: Actor,
    needs_size: int,
    refusal: DomainError,
    what: str,
    **parameters: int | str,
) -> dict[tiles.TileKey, bytes]:
    """The tiles a read of the log needs, the log's size checked against ``needs_size`` and the read's audit
    event: one transaction in two round trips (tiles and size; the event and the commit).

    ``refusal`` is raised when the log is smaller than ``needs_size``: then nothing is written.
    """
    keys = sorted(keys)
    audit, _fields = audit_event_statements(actor=actor, action="log.read", payload={"what": what, **parameters})
    with pipeline(prepare=True, commit=True) as pipe:
        rows = pipe.fetch(_TILES_AND_SIZE_SQL, {"levels": [k[0] for k in keys], "indexes": [k[1] for k in keys]})
        if needs_size > rows[0][0]:
            raise refusal
        pipe.send(audit, answered=False)
    return {(level, index): bytes(hashes) for _size, level, index, hashes in rows if hashes is not None}


def _beyond_log(field: str) -> DomainError:
    return DomainError(
        _("The log is not that large yet; ask for a tree size of a checkpoint."), code="beyond_log", field=field
    )


def log_inclusion_read(*, actor: Actor, index: int, tree_size: int) -> dict:
    """RFC 9162 audit path of leaf ``index`` in the tree of ``tree_size`` leaves, from the tiles; audited."""
    if not 0 <= index < tree_size:
        raise DomainError(_("The index must be below the tree size."), code="index_out_of_range", field="/query/index")
    tree = tiles.TiledTree(tiles_read)
    # The leaf's own hash is in the same level-0 tile as its first sibling: read with the path.
    tree.prefetch(
        lambda h: (merkle.inclusion_path(index, tree_size, h), h(index, index + 1)),
        reader=lambda keys: _tiles_audited(
            keys,
            actor=actor,
            needs_size=tree_size,
            refusal=_beyond_log("/query/tree_size"),
            what="inclusion",
            index=index,
            tree_size=tree_size,
        ),
    )
    proof = merkle.inclusion_path(index, tree_size, tree.hash_range)
    return {
        "index": index,
        "tree_size": tree_size,
        "leaf_hash": b64(tree.hash_range(index, index + 1)),
        "proof": [b64(value) for value in proof],
    }


def log_consistency_read(*, actor: Actor, first: int, second: int) -> dict:
    """RFC 9162 consistency proof between the trees of ``first`` and ``second`` leaves; audited."""
    if not 0 < first <= second:
        raise DomainError(
            _("first must be at least 1 and at most second."), code="sizes_out_of_order", field="/query/first"
        )
    tree = tiles.TiledTree(tiles_read)
    tree.prefetch(
        lambda h: merkle.consistency_path(first, second, h),
        reader=lambda keys: _tiles_audited(
            keys,
            actor=actor,
            needs_size=second,
            refusal=_beyond_log("/query/second"),
            what="consistency",
            first=first,
            second=second,
        ),
    )
    proof = merkle.consistency_path(first, second, tree.hash_range)
    return {"first": first, "second": second, "proof": [b64(value) for value in proof]}


def log_tile_read(*, actor: Actor, path: str) -> bytes:
    """A C2SP tlog-tiles hash tile by its path: its first ``width`` hashes, once the log holds them all; audited."""
    parsed = tiles.tile_path_parse(path)
    if parsed is None:
        raise NotFoundError(_("Not a tile path: <level>/<index>[.p/<width>], index in x-prefixed 3-digit groups."))
    level, index, width = parsed
    # The tile's last node covers 256^level leaves: the log holds the tile once it has all of them.
    stored = _tiles_audited(
        [(level, index)],
        actor=actor,
        needs_size=(index * tiles.WIDTH + width) << (tiles.HEIGHT * level),
        refusal=NotFoundError(_("No such tile in the log yet.")),
        what="tile",
        tile=path,
    )
    content = stored[(level, index)]
    return content[: width * tiles.HASH_SIZE]


@dataclass
class LogVerification:
    size: int = 0
    problems: list[str] | None = None

    @property
    def ok(self) -> bool:
        return not self.problems


_LEAVES_SQL = """
    SELECT index, kind, member_id, reference_digest, record_digest, created_at, leaf_hash
    FROM sharing_logleaf WHERE index >= %(start)s ORDER BY index LIMIT %(limit)s
"""


def log_verify(*, actor: Actor | None = None, chunk: int = 50_000) -> LogVerification:
    """Recompute the tree from the leaves themselves and compare: every leaf's hash, the indices, the stored
    tiles, the state's root and every checkpoint's root (each checkpoint's signature too).

    What an operator's "verify log" runs; it reads the whole log, in chunks.
    """
    result = LogVerification(problems=[])
    problems = result.problems
    hashes: list[bytes] = []
    expected = 0
    while True:
        rows = execute_binary(_LEAVES_SQL, {"start": expected, "limit": chunk}, fetch=True)
        for index, kind, member_id, reference_digest, record_digest, created_at, stored in rows:
            if index != expected:
                problems.append(_("leaf %(index)s is missing (next is %(next)s)") % {"index": expected, "next": index})
                expected = index
            computed = merkle.leaf_hash(
                leaf.leaf_encode(
                    seq=index,
                    kind=kind,
                    member=member_id,
                    reference_digest=bytes(reference_digest),
                    record_digest=bytes(record_digest),
                    time=created_at,
                )
            )
            if computed != bytes(stored or b""):
                problems.append(_("leaf %(index)s: its content does not give its stored hash") % {"index": index})
            hashes.append(computed)
            expected += 1
        if len(rows) < chunk:
            break
    state = LogState.objects.filter(pk=1).first()
    size = state.size if state else 0
    result.size = len(hashes)
    if len(hashes) != size:
        problems.append(
            _("the log state says %(size)s leaves, the table holds %(held)s") % {"size": size, "held": len(hashes)}
        )
    tree = merkle.MemoryTree(hashes)
    if state is not None and size <= len(hashes) and tree.root(size) != bytes(state.root):
        problems.append(_("the state's root is not the root of the leaves"))
    stored_tiles = tiles.tiles_append(0, {}, hashes) if hashes else {}
    on_disk = tiles_read(stored_tiles.keys())
    for key, content in stored_tiles.items():
        if on_disk.get(key, b"")[: len(content)] != content:
            problems.append(_("tile %(tile)s does not hold the leaves' hashes") % {"tile": tiles.tile_path(*key)})
    verifier = note.verifier_parse(log_verifier_key())
    for checkpoint in LogCheckpoint.objects.order_by("size"):
        if checkpoint.size > len(hashes):
            problems.append(_("checkpoint %(size)s is beyond the leaves") % {"size": checkpoint.size})
            continue
        try:
            opened = note.checkpoint_open(checkpoint.note, verifier, origin=log_name())
        except note.NoteError as exc:
            problems.append(_("checkpoint %(size)s: %(problem)s") % {"size": checkpoint.size, "problem": exc})
            continue
        if opened.size != checkpoint.size or opened.root != tree.root(checkpoint.size):
            problems.append(
                _("checkpoint %(size)s: its root is not the root of the leaves") % {"size": checkpoint.size}
            )
    if actor is not None:
        audit_event_record(
            actor=actor,
            action="log.verified",
            payload={"size": result.size, "ok": result.ok, "problems": problems[:20]},
        )
    return result
