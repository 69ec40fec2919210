"""The verifiable log's section of a report: the member's own leaves of the period, with their proofs."""

from __future__ import annotations

from sharing.tlog import merkle, tiles
from sharing.tlog.models import LogCheckpoint, LogLeaf
from sharing.tlog.services import b64, tiles_read

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
