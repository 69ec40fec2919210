"""Telling a database that is unreachable from one that answered with an error.

The first is an outage the client should wait out (``503`` with ``Retry-After``: a restart, a
fail-over, a full connection table, a Citus worker node down); the second is a fault of ours (``500``).
It is the condition the ``readyz`` probe reports as ``database: unavailable``, read from the error
itself, without a second round trip to a server that is not there.
"""

from __future__ import annotations

from django.db import InterfaceError, InternalError, OperationalError

# SQLSTATEs of a server that is going away, not up yet or full: admin_shutdown, crash_shutdown,
# cannot_connect_now, too_many_connections. Class 08 (connection exception) counts as a whole.
_UNAVAILABLE_SQLSTATES = frozenset({"57P01", "57P02", "57P03", "53300"})
# On a Citus cluster an error from a worker node comes back through the coordinator under the worker's own
# SQLSTATE (a stopped node: 08006, 57P01), with this context. Where the coordinator's connection to the node
# broke mid-transaction (a node gone by immediate shutdown or with its processes killed: "SSL SYSCALL error:
# EOF detected", "server closed the connection unexpectedly") libpq has no SQLSTATE to give and Citus reports
# XX000, internal_error: with this context, that is a node lost, not a fault of ours.
_CITUS_REMOTE_CONTEXT = "while executing command on "


def database_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` says the database could not be reached (or was lost mid-request)."""
    if isinstance(exc, InterfaceError):  # a connection that is already closed
        return True
    if isinstance(exc, InternalError):
        return _citus_node_lost(exc.__cause__)
    if not isinstance(exc, OperationalError):
        return False
    sqlstate = getattr(exc.__cause__, "sqlstate", None)
    # No SQLSTATE: no answer from a server at all (refused, reset, timed out, closed under us).
    return sqlstate is None or sqlstate.startswith("08") or sqlstate in _UNAVAILABLE_SQLSTATES


def _citus_node_lost(cause: BaseException | None) -> bool:
    if getattr(cause, "sqlstate", None) != "XX000":
        return False
    context = getattr(getattr(cause, "diag", None), "context", None) or ""
    return any(line.startswith(_CITUS_REMOTE_CONTEXT) for line in context.splitlines())


# Raised by the audit chain's trigger while a history is held after a restore (members.history).
HISTORY_HELD_SQLSTATE = "RSH01"


def history_held(exc: BaseException) -> bool:
    """Whether ``exc`` is the database refusing to continue a history held after a restore."""
    return getattr(exc.__cause__, "sqlstate", None) == HISTORY_HELD_SQLSTATE
