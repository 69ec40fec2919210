"""The verifiable log's newest signed checkpoint kept outside the database, and the guard of both histories.

Every sequencer run records the newest signed checkpoint (size, root, origin) and the audit chain's head in
the history witness (core.witness) after its commit. Before it signs, it checks the log it is about to sign
against the recorded checkpoint: the first ``size`` leaves must hash to the recorded root, i.e. the new
checkpoint must be a consistent extension of the last one published. A restore to an earlier point fails
that check (leaves the members were shown are gone, or others took their indices), and the platform then
refuses to sign (``HistoryForked``), holds the log (and the audit chain, checked the same way by
members.history), says so in its log, at /metrics and in ``manage.py history_check``, until an operator
follows the runbook (docs/operations.md, "Histories that never fork").
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable
from typing import Any

from core.witness import witness_read, witness_update
from members import history as members_history
from members.models import HistoryHold
from sharing.tlog import tiles
from sharing.tlog.models import LogCheckpoint, LogState
from sharing.tlog.signing import log_name

logger = logging.getLogger(__name__)

HashRange = Callable[[int, int], bytes]


class HistoryForked(RuntimeError):
    """The log about to be signed does not extend the checkpoint recorded outside the database."""


def _b64(value: bytes) -> str:
    return base64.b64encode(value).decode()


def log_check(recorded: dict[str, Any] | None, size: int, hash_range: HashRange) -> dict[str, Any] | None:
    """None when a log of ``size`` leaves (read through ``hash_range``) extends the recorded checkpoint;
    else what it holds instead."""
    if not recorded:
        return None
    if size < recorded["size"]:
        return {"size": size, "reason": "the log is smaller than the recorded checkpoint"}
    root = hash_range(0, recorded["size"])
    if _b64(root) != recorded["root"]:
        return {"size": size, "root_at_recorded_size": _b64(root), "reason": "different leaves at the same indices"}
    return None


def log_signing_check(size: int, hash_range: HashRange) -> None:
    """Raise ``HistoryForked`` unless signing a checkpoint of ``size`` leaves extends the recorded one."""
    recorded = witness_read().get("log")
    found = log_check(recorded, size, hash_range)
    if found is not None:
        raise HistoryForked(
            f"refusing to sign a checkpoint of {size} leaves: the log does not extend the checkpoint of "
            f"{recorded['size']} leaves recorded outside the database ({found['reason']}); "
            f"see {members_history.RUNBOOK}"
        )


def history_check() -> dict[str, dict[str, Any]]:
    """Both histories against the witness: ``{kind: found}`` for each that does not continue its recorded head
    (a hold is opened for each, once). Empty: both are consistent extensions."""
    from sharing.tlog.services import tiles_read

    recorded = witness_read()
    problems = {}
    found = members_history.audit_check(recorded.get("audit"))
    if found is not None:
        problems[HistoryHold.Kind.AUDIT_CHAIN] = found
    state = LogState.objects.filter(pk=1).first()
    found = log_check(recorded.get("log"), state.size if state else 0, tiles.TiledTree(tiles_read).hash_range)
    if found is not None:
        problems[HistoryHold.Kind.VERIFIABLE_LOG] = found
    for kind, what in problems.items():
        section = "audit" if kind == HistoryHold.Kind.AUDIT_CHAIN else "log"
        members_history.hold_open(kind, recorded=recorded[section], found=what)
    return problems


def history_record() -> None:
    """Record the newest signed checkpoint and the audit chain's head in the witness (forward only)."""
    latest = LogCheckpoint.objects.order_by("-size").first()
    if latest is not None:
        checkpoint = {"size": latest.size, "root": _b64(bytes(latest.root)), "origin": log_name()}
        witness_update("log", lambda current: checkpoint if not current or latest.size > current["size"] else None)
    members_history.audit_record()


def history_guard() -> set[str]:
    """What the sequencer runs first: the open holds, after checking both histories against the witness."""
    history_check()
    return members_history.holds_open()
