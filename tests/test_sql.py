"""The binary-parameter helpers (pipelines run in the caller's transaction and fail as a whole), and stable digests."""

from __future__ import annotations

import pytest
from django.db import DataError, connection, transaction

from config.sql import execute_binary, execute_pipeline
from sharing.models import ConsortiumKey

_INSERT = (
    "INSERT INTO sharing_consortiumkey (version, state, check_value, created_at, created_by, retired_by, "
    "retired_reason) VALUES (%(version)s, 'current', '0000000000000000', now(), 'tests', '', '')"
)


def test_a_pipeline_answers_each_statement_in_order(db):
    rows = execute_pipeline(
        [
            (_INSERT, {"version": 41}),
            ("SELECT version FROM sharing_consortiumkey WHERE version = ANY(%s)", [[41, 42]]),
            ("SELECT %(a)s::int + %(a)s::int", {"a": 20}),
        ]
    )
    assert rows == [[], [(41,)], [(40,)]]


def test_a_failing_statement_rolls_back_the_whole_transaction_and_leaves_the_connection_usable(db):
    with pytest.raises(DataError), transaction.atomic():
        execute_pipeline([(_INSERT, {"version": 43}), ("SELECT 1 / %s::int", [0]), (_INSERT, {"version": 44})])
    assert not ConsortiumKey.objects.filter(version__in=[43, 44]).exists()
    assert execute_binary("SELECT 1", [], fetch=True) == [(1,)]
    assert connection.is_usable()


def test_pipelined_statements_are_visible_to_query_count_tests(db, django_assert_num_queries):
    with django_assert_num_queries(2):
        execute_pipeline([("SELECT 1", []), ("SELECT 2", [])])


def _prepared() -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        return {row[0] for row in cursor.fetchall()}


def test_statements_are_prepared_where_asked_and_nowhere_else(db):
    asked = "SELECT %(a)s::int * 7"
    execute_pipeline([(asked, {"a": 6})], prepare=True)
    assert execute_pipeline([(asked, {"a": 6})], prepare=True) == [[(42,)]]
    assert execute_binary("SELECT %s::int + 1", [1], fetch=True, prepare=True) == [(2,)]
    for _ in range(10):  # psycopg would prepare a statement seen 5 times if left to itself
        execute_binary("SELECT %s::int - 1", [1], fetch=True)
        ConsortiumKey.objects.filter(version=7).exists()
    assert {"SELECT $1::int * 7", "SELECT $1::int + 1"} <= _prepared()
    assert not any("- 1" in statement or "consortiumkey" in statement for statement in _prepared())


def test_the_identifiers_digest_is_stable():
    """Stored digests decide whether a re-sent record changed: the bytes hashed must never change."""
    import hashlib

    from sharing.tokens import identifiers_digest

    first, second = b"\x01" * 32, b"\x02" * 32
    expected = hashlib.sha256(b"cn_mobile\x00" + second + b"cn_resident_id\x00" + first).digest()
    assert identifiers_digest([("cn_resident_id", first), ("cn_mobile", second)]) == expected
