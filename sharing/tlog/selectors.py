"""Reads of the verifiable log: checkpoints, proofs from the tiles, tiles, a batch's receipt. Django side."""

from __future__ import annotations

from django.db.models import Sum
from django.utils.translation import gettext as _

from core.errors import NotFoundError
from sharing.tlog.models import LogCheckpoint, LogLeaf, LogPending, LogState


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
