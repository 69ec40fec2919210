"""Reads of the verifiable log: checkpoints, proofs from the tiles, tiles, a batch's receipt. Django side."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Sum
from django.utils.translation import gettext as _

from core.errors import ConflictError, NotFoundError
from core.sql import execute_binary
from sharing.models import Batch, LogCheckpoint, LogLeaf, LogPending, LogState
from sharing.tlog import leaf, merkle, tiles
from sharing.tlog.services import b64, tiles_read


def log_size() -> int:
    """How many leaves are sequenced (what proofs can cover)."""
    return LogState.objects.values_list("size", flat=True).first() or 0


def checkpoint_latest() -> LogCheckpoint:
    checkpoint = LogCheckpoint.objects.order_by("-size").first()
    if checkpoint is None:
        raise NotFoundError(_("The log has no checkpoint yet."))
    return checkpoint


def record_log_position(*, record_id: int) -> tuple[int, bytes] | None:
    """The record's latest sequenced leaf: (index, leaf hash)."""
    row = LogLeaf.objects.filter(record_id=record_id).order_by("-index").values_list("index", "leaf_hash").first()
    return None if row is None else (row[0], bytes(row[1]))


def log_pending_count() -> int:
    """Leaves written and not sequenced yet."""
    return LogPending.objects.aggregate(leaves=Sum("leaves"))["leaves"] or 0


@dataclass(frozen=True)
class Receipt:
    checkpoint: str
    tree_size: int
    leaves: list[dict]


_RECEIPT_SQL = """
    SELECT l.index, l.leaf_hash, r.reference, r.log_salt, l.kind, l.created_at, l.member_id
    FROM sharing_logleaf l LEFT JOIN sharing_record r ON r.id = l.record_id
    WHERE l.batch_id = %(batch)s ORDER BY l.id
"""


def batch_receipt(*, member_id: int, batch_id: int) -> Receipt:
    """The batch's leaves under the latest checkpoint, with each record's salt: what the member keeps.

    A purged record's leaf is listed with no reference and no salt (the salt is gone).
    """
    batch = Batch.objects.filter(pk=batch_id, member_id=member_id).only("pk").first()
    if batch is None:
        raise NotFoundError(_("No batch with this id."))
    # Pending rows first: the batch is committed, so once none is left every leaf is in LogLeaf for the
    # reads after (read the other way round, a sequencer committing in between gave a receipt without them).
    pending = LogPending.objects.filter(batch_id=batch_id).exists()
    rows = execute_binary(_RECEIPT_SQL, {"batch": batch_id}, fetch=True)
    checkpoint = LogCheckpoint.objects.order_by("-size").first()
    if pending or (rows and (checkpoint is None or checkpoint.size <= max(index for index, *_rest in rows))):
        raise ConflictError(
            _("The batch's changes are not in a signed checkpoint yet; ask again in a minute."),
            code="receipt_pending",
        )
    leaves = [
        {
            "reference": reference,
            "index": index,
            "kind": kind,
            "member": member,
            "time": leaf.time_millis(created_at),
            "leaf_hash": b64(bytes(leaf_hash)),
            "salt": None if salt is None else b64(bytes(salt)),
        }
        for index, leaf_hash, reference, salt, kind, created_at, member in rows
    ]
    if checkpoint is None:  # a batch that changed nothing
        return Receipt(checkpoint="", tree_size=0, leaves=[])
    return Receipt(checkpoint=checkpoint.note, tree_size=checkpoint.size, leaves=leaves)


REPORT_LEAVES_MAX = 1000


def report_log_section(*, member_id: int, start, end) -> dict:
    """For a self-inspection report: the latest checkpoint and inclusion proofs of the member's leaves of
    the period under it (at most REPORT_LEAVES_MAX, oldest first; the count says how many there were)."""
    from sharing.tlog.signing import log_verifier_key

    checkpoint = LogCheckpoint.objects.order_by("-size").first()
    if checkpoint is None:
        return {"checkpoint": None, "verifier_key": log_verifier_key(), "leaves_in_period": 0, "leaves": []}
    leaves = LogLeaf.objects.filter(
        member_id=member_id, created_at__gte=start, created_at__lt=end, index__lt=checkpoint.size
    )
    total = leaves.count()
    rows = list(leaves.order_by("index").values_list("index", "leaf_hash")[:REPORT_LEAVES_MAX])
    tree = tiles.TiledTree(tiles_read)  # tiles read once for all the proofs
    proofs = []
    for index, leaf_hash in rows:
        tree.prefetch(lambda h, i=index: merkle.inclusion_path(i, checkpoint.size, h))
        path = merkle.inclusion_path(index, checkpoint.size, tree.hash_range)
        proofs.append({"index": index, "leaf_hash": b64(bytes(leaf_hash)), "proof": [b64(p) for p in path]})
    return {
        "checkpoint": checkpoint.note,
        "verifier_key": log_verifier_key(),
        "leaves_in_period": total,
        "leaves": proofs,
    }
