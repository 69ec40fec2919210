"""Set-based statements with large array parameters, sent in binary.

Django's PostgreSQL cursor binds parameters on the client: a 10,000-element
array becomes SQL text escaped by regular expressions (measured ~0.5 s per
10,000-record batch) and parsed again by the server. The hot paths instead use
the same connection's psycopg cursor with server-side binding in binary
format, inside Django's transaction and error wrapping.
"""

from __future__ import annotations

import re
import time
from typing import Any

import psycopg
from django.db import connection

_PLACEHOLDER = re.compile(r"%(\([a-z_]+\))?s")


def execute_binary(
    sql: str, params: dict[str, Any] | list[Any], *, fetch: bool = False, prepare: bool = False
) -> list[tuple]:
    """Run one statement with its parameters bound on the server in binary; its rows if ``fetch``.

    ``prepare``: keep the statement parsed and planned in the session (see ``execute_pipeline``).
    """
    # %b: parameters travel in binary (an array of 20,000 bytea is memcpy, not escaping).
    sql = _PLACEHOLDER.sub(r"%\1b", sql)
    connection.ensure_connection()
    started = time.monotonic()
    # Django's connection hands out client-binding cursors; a plain psycopg.Cursor binds on the server.
    with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as cursor:
        cursor.execute(sql, params, prepare=prepare)
        rows = cursor.fetchall() if fetch else []
    if connection.queries_logged:
        # Visible to query-count tests and the debug toolbar like any other query.
        connection.queries_log.append({"sql": sql, "time": f"{time.monotonic() - started:.3f}"})
    return rows


def execute_pipeline(
    statements: list[tuple[str, dict[str, Any] | list[Any]]], *, prepare: bool = False
) -> list[list[tuple]]:
    """Run several statements in one network round trip (libpq pipeline mode); each one's rows, in order.

    The statements run one after another in the server, each with its own snapshot, inside the
    caller's transaction; the first failure aborts the rest and raises like ``execute_binary``.
    A single lookup spends most of its time waiting for round trips, not in the database.

    ``prepare``: keep each statement parsed and planned in the session, for fixed statements on a
    hot path (planning a lookup's five statements took longer than running them, 0.4 against
    0.3 ms). Only where the caller asks: the connection's ``prepare_threshold`` (settings.py) keeps
    psycopg from preparing anything by itself, and PostgreSQL may switch a prepared statement to a
    generic plan, which suits only statements whose best plan does not depend on their parameters.
    """
    connection.ensure_connection()
    started = time.monotonic()
    raw = connection.connection
    cursors = []
    with connection.wrap_database_errors:
        with raw.pipeline():
            for sql, params in statements:
                cursor = psycopg.Cursor(raw)
                cursor.execute(_PLACEHOLDER.sub(r"%\1b", sql), params, prepare=prepare)
                cursors.append(cursor)
        results = [cursor.fetchall() if cursor.description else [] for cursor in cursors]
    for cursor in cursors:
        cursor.close()
    if connection.queries_logged:
        elapsed = f"{time.monotonic() - started:.3f}"
        connection.queries_log.extend({"sql": sql, "time": elapsed} for sql, _params in statements)
    return results
