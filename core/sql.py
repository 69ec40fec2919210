"""Set-based statements with large array parameters, sent in binary.

Django's PostgreSQL cursor binds parameters on the client: a 10,000-element
array becomes SQL text escaped by regular expressions (measured ~0.5 s per
10,000-record batch) and parsed again by the server. The hot paths instead use
the same connection's psycopg cursor with server-side binding in binary
format, inside Django's transaction and error wrapping.
"""

from __future__ import annotations

import functools
import re
import select
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

import psycopg
from django.db import connection, transaction

_PLACEHOLDER = re.compile(r"%(\([a-z_]+\))?s")


@functools.lru_cache(maxsize=512)
def _binary(sql: str) -> str:
    # %b: parameters travel in binary (an array of 20,000 bytea is memcpy, not escaping).
    # Cached: the statements are a fixed set, and rewriting them was ~0.3 ms of a single lookup.
    return _PLACEHOLDER.sub(r"%\1b", sql)


def server_silent(raw: psycopg.Connection) -> bool:
    """Nothing has arrived on an idle connection: a server that drops one (restart, terminate) says so first.

    PostgreSQL sends its FATAL notice and closes the socket, which makes it readable. One ``poll``
    (~1.5 µs) instead of the health check's ``SELECT 1`` round trip (~0.1 ms, and a wait for a core).
    """
    if raw.closed or raw.broken or not hasattr(select, "poll"):
        return False
    poller = select.poll()
    poller.register(raw.fileno(), select.POLLIN)
    return not poller.poll(0)


def raw_connection() -> psycopg.Connection:
    """The default connection's psycopg connection, health-checked as Django's own cursors are.

    Django checks a reused connection (CONN_HEALTH_CHECKS) the first time a request opens a cursor;
    these paths open psycopg cursors directly, so they ask for the check themselves. Without it, the
    first request a server process answers after the database restarted would fail on the dead
    connection. A connection on which the server has sent nothing since its last answer passes
    without a round trip; anything else (a FATAL notice, a closed socket, even a harmless
    notification) gets Django's own check, which reconnects if the connection is dead.
    """
    if connection.connection is not None and not connection.health_check_done and server_silent(connection.connection):
        connection.health_check_done = True  # Django's flag for "checked in this request"
    connection.close_if_health_check_failed()
    connection.ensure_connection()
    return connection.connection


def _queries_logged(statements: list[str], started: float) -> None:
    if connection.queries_logged:
        # Visible to query-count tests and the debug toolbar like any other query.
        elapsed = f"{time.monotonic() - started:.3f}"
        connection.queries_log.extend({"sql": sql, "time": elapsed} for sql in statements)


def execute_binary(
    sql: str, params: dict[str, Any] | list[Any], *, fetch: bool = False, prepare: bool = False
) -> list[tuple]:
    """Run one statement with its parameters bound on the server in binary; its rows if ``fetch``.

    ``prepare``: keep the statement parsed and planned in the session (see ``execute_pipeline``).
    """
    raw = raw_connection()
    started = time.monotonic()
    # Django's connection hands out client-binding cursors; a plain psycopg.Cursor binds on the server.
    with connection.wrap_database_errors, psycopg.Cursor(raw) as cursor:
        cursor.execute(_binary(sql), params, prepare=prepare)
        rows = cursor.fetchall() if fetch else []
    _queries_logged([sql], started)
    return rows


_ROWS = psycopg.pq.ExecStatus.TUPLES_OK

Statements = list[tuple[str, dict[str, Any] | list[Any]]]


class Pipeline:
    """Statements sent as they come, answered together when the ``pipeline`` block ends."""

    def __init__(self, raw: psycopg.Connection, *, prepare: bool):
        self._raw = raw
        self._prepare = prepare
        self._sent: list[tuple[psycopg.Cursor, str, bool]] = []
        self.results: list[list[tuple]] = []

    def send(self, statements: Statements, *, answered: bool = True, prepare: bool | None = None) -> None:
        """Send now: the server starts on them while the caller goes on (libpq flushes what it can)."""
        for sql, params in statements:
            cursor = psycopg.Cursor(self._raw)
            self._sent.append((cursor, sql, answered))
            cursor.execute(_binary(sql), params, prepare=self._prepare if prepare is None else prepare)

    def fetch(self, sql: str, params: dict[str, Any] | list[Any]) -> list[tuple]:
        """Send one statement and wait for its rows, and so for everything sent before it.

        What is sent after overlaps with the caller again; this statement is not in ``results``.
        """
        cursor = psycopg.Cursor(self._raw)
        self._sent.append((cursor, sql, False))
        cursor.execute(_binary(sql), params, prepare=self._prepare)
        return cursor.fetchall()

    def _collect(self) -> None:
        # Rows where the statement returns any: asked of the result's status, not of ``description``,
        # which builds a Column object per column (~5 % of a single lookup's CPU).
        self.results = [
            cursor.fetchall() if cursor.pgresult.status == _ROWS else []
            for cursor, _sql, answered in self._sent
            if answered
        ]

    def _close(self, started: float) -> None:
        for cursor, _sql, _answered in self._sent:
            cursor.close()
        _queries_logged([sql for _cursor, sql, _answered in self._sent], started)


def _inside_a_test_case() -> bool:
    """Every open atomic block is a test case's, the one nesting Django's ``atomic(durable=True)`` allows."""
    return all(getattr(block, "_from_testcase", False) for block in connection.atomic_blocks)


@contextmanager
def pipeline(*, prepare: bool = False, commit: bool = False) -> Iterator[Pipeline]:
    """Statements in one network round trip (libpq pipeline mode); their rows in ``results`` after the block.

    The statements run one after another in the server, each with its own snapshot, while the
    block goes on: work done between two ``send`` calls overlaps with the database's. The first
    failure aborts the rest and raises like ``execute_binary`` when the block ends.

    ``commit``: the block is a transaction of its own and its caller owns it: ``BEGIN`` goes out
    first and ``COMMIT`` last, in the same round trip; a failing statement, or the caller failing
    between two sends, rolls it all back. Like ``transaction.atomic(durable=True)``, it refuses to
    run inside an atomic block (RuntimeError) rather than become a savepoint that commits, or not,
    with an outer transaction; only a test case's own transaction may hold it, as a savepoint.

    ``prepare``: keep each statement parsed and planned in the session, for fixed statements on a
    hot path (planning a lookup's five statements took longer than running them, 0.4 against
    0.3 ms). Only where the caller asks: the connection's ``prepare_threshold`` (settings.py) keeps
    psycopg from preparing anything by itself, and PostgreSQL may switch a prepared statement to a
    generic plan, which suits only statements whose best plan does not depend on their parameters.
    """
    if commit and connection.in_atomic_block:
        if not _inside_a_test_case():
            raise RuntimeError("A committing pipeline cannot run inside an atomic block: it owns its transaction.")
        with transaction.atomic(), pipeline(prepare=prepare) as pipe:
            yield pipe
        return
    raw = raw_connection()
    pipe = Pipeline(raw, prepare=prepare)
    started = time.monotonic()
    try:
        with connection.wrap_database_errors:
            try:
                with raw.pipeline():
                    if commit:
                        pipe.send([("BEGIN", [])], answered=False, prepare=False)
                    yield pipe
                    if commit:
                        pipe.send([("COMMIT", [])], answered=False, prepare=False)
            except BaseException:
                # A failed statement leaves the transaction aborted, a failed caller leaves it open.
                if commit and raw.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                    with suppress(psycopg.Error):  # a dead connection has nothing left to roll back
                        raw.execute("ROLLBACK")
                raise
            pipe._collect()
    finally:
        pipe._close(started)


def execute_pipeline(statements: Statements, *, prepare: bool = False) -> list[list[tuple]]:
    """Several statements in one round trip, inside the caller's transaction; each one's rows, in order.

    A single lookup spends most of its time waiting for round trips, not in the database. See ``pipeline``.
    """
    with pipeline(prepare=prepare) as pipe:
        pipe.send(statements)
    return pipe.results
