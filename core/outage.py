"""Telling a database that is unreachable from one that answered with an error.

The first is an outage the client should wait out (``503`` with ``Retry-After``: a restart, a
fail-over, a full connection table); the second is a fault of ours (``500``). It is the condition
the ``readyz`` probe reports as ``database: unavailable``, read from the error itself, without a
second round trip to a server that is not there.
"""

from __future__ import annotations

from django.db import InterfaceError, OperationalError

# SQLSTATEs of a server that is going away, not up yet or full: admin_shutdown, crash_shutdown,
# cannot_connect_now, too_many_connections. Class 08 (connection exception) counts as a whole.
_UNAVAILABLE_SQLSTATES = frozenset({"57P01", "57P02", "57P03", "53300"})


def database_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` says the database could not be reached (or was lost mid-request)."""
    if isinstance(exc, InterfaceError):  # a connection that is already closed
        return True
    if not isinstance(exc, OperationalError):
        return False
    sqlstate = getattr(exc.__cause__, "sqlstate", None)
    # No SQLSTATE: no answer from a server at all (refused, reset, timed out, closed under us).
    return sqlstate is None or sqlstate.startswith("08") or sqlstate in _UNAVAILABLE_SQLSTATES


# Raised by the audit chain's trigger while a history is held after a restore (members.history).
HISTORY_HELD_SQLSTATE = "RSH01"


def history_held(exc: BaseException) -> bool:
    """Whether ``exc`` is the database refusing to continue a history held after a restore."""
    return getattr(exc.__cause__, "sqlstate", None) == HISTORY_HELD_SQLSTATE
