"""Which database errors mean "unreachable" (503, retry later) and which stay a fault of ours (500)."""

from __future__ import annotations

import pytest
from django.db import OperationalError, connection, transaction
from django.db.backends.postgresql.base import DatabaseWrapper

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
