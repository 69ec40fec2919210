"""Which database errors mean "unreachable" (503, retry later) and which stay a fault of ours (500)."""

from __future__ import annotations

import psycopg
import pytest
from django.db import InternalError, OperationalError, connection, transaction
from django.db.backends.postgresql.base import DatabaseWrapper
from psycopg.pq import DiagnosticField

from core.api import problem_exception_handler
from core.outage import database_unavailable
from tests.served import closed_port


def test_a_refused_connection_is_unavailable(db):
    params = {**connection.settings_dict, "HOST": "127.0.0.1", "PORT": closed_port()}
    unreachable = DatabaseWrapper(params, alias="unreachable")
    with pytest.raises(OperationalError) as refused:
        unreachable.ensure_connection()
    assert database_unavailable(refused.value)


def test_a_statement_timeout_is_not(db):
    with pytest.raises(OperationalError) as cancelled, transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL statement_timeout = 1")
        cursor.execute("SELECT pg_sleep(1)")
    assert not database_unavailable(cancelled.value)


def test_other_errors_are_not(db):
    assert not database_unavailable(ValueError("x"))


def citus_node_lost_error(context: str = "while executing command on 127.0.0.1:5782") -> InternalError:
    """What Django raises when the coordinator reports XX000 with ``context`` (psycopg's error as Citus sends it)."""
    fields = {
        DiagnosticField.SQLSTATE: b"XX000",
        DiagnosticField.MESSAGE_PRIMARY: b"SSL SYSCALL error: EOF detected",
        DiagnosticField.CONTEXT: context.encode(),
    }
    error = InternalError("SSL SYSCALL error: EOF detected")
    error.__cause__ = psycopg.errors.InternalError_("SSL SYSCALL error: EOF detected", info=fields)
    return error


def test_a_citus_worker_lost_mid_transaction_is_unavailable():
    # Seen on deploy/citus/devcluster: COMMIT after `stop-node worker1 --mode immediate`.
    lost = citus_node_lost_error("while executing command on 127.0.0.1:5782")
    assert database_unavailable(lost)
    response = problem_exception_handler(lost, {"view": None})
    assert (response.status_code, response.data["code"]) == (503, "database_unavailable")
    assert response.content_type == "application/problem+json" and int(response["Retry-After"]) > 0


def test_an_internal_error_of_the_coordinator_itself_is_not():
    ours = citus_node_lost_error("PL/pgSQL function sharing_guard() line 3 at RAISE")
    assert not database_unavailable(ours)
    assert problem_exception_handler(ours, {"view": None}).status_code == 500
