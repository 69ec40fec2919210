"""Reads of batches and records, scoped to the member that sent them."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import QuerySet
from django.utils.translation import gettext as _

from core.errors import ConflictError, NotFoundError
from core.sql import execute_binary
from sharing.records.models import Batch, Record
from sharing.tlog import leaf
from sharing.tlog.models import LogCheckpoint, LogPending
from sharing.tlog.services import b64


def batch_get(*, member_id: int, batch_id: int) -> Batch:
    """A batch of this member; another member's batch is the same 404 as a missing one."""
    batch = Batch.objects.filter(pk=batch_id, member_id=member_id).first()
    if batch is None:
        raise NotFoundError(_("No batch with this id."))
    return batch


def record_get(*, member_id: int, reference: str) -> Record:
    record = Record.objects.filter(member_id=member_id, reference=reference).first()
    if record is None:
        raise NotFoundError(_("No record with this reference."))
    return record


def record_list(
    *, member_id: int, kind: str | None = None, status: str | None = None, updated_since=None
) -> QuerySet[Record]:
    records = Record.objects.filter(member_id=member_id)
    if kind:
        records = records.filter(kind=kind)
    if status:
        records = records.filter(status=status)
    if updated_since is not None:
        records = records.filter(updated_at__gte=updated_since)
    return records


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
