"""The binary-parameter helpers (pipelines run in the caller's transaction and fail as a whole), and stable digests."""

from __future__ import annotations

import psycopg
import pytest
from django.db import DataError, connection, transaction
from django.test.utils import CaptureQueriesContext

from core.sql import execute_binary, execute_pipeline, pipeline
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


def test_a_pipeline_fetch_waits_for_its_rows_and_what_was_sent_before_it(db):
    with transaction.atomic(), pipeline() as pipe:
        pipe.send([(_INSERT, {"version": 45})])
        seen = pipe.fetch("SELECT array_agg(version) FROM sharing_consortiumkey WHERE version >= %s", [45])
        pipe.send([(_INSERT, {"version": 46}), ("SELECT count(*) FROM sharing_consortiumkey WHERE version >= 45", [])])
    assert seen == [([45],)]
    assert pipe.results == [[], [], [(2,)]]  # the fetched statement is not answered again


def test_a_pipeline_fetch_raises_the_failure_of_an_earlier_statement(db):
    with pytest.raises(DataError), transaction.atomic(), pipeline() as pipe:
        pipe.send([("SELECT 1 / %s::int", [0])])
        pipe.fetch("SELECT 1", [])
    assert execute_binary("SELECT 1", [], fetch=True) == [(1,)]


def _idle() -> bool:
    return connection.connection.info.transaction_status == psycopg.pq.TransactionStatus.IDLE


def test_a_committing_pipeline_commits_in_the_same_round_trip(transactional_db):
    with pipeline(commit=True) as pipe:
        pipe.send([(_INSERT, {"version": 51})])
        pipe.send([("SELECT count(*) FROM sharing_consortiumkey WHERE version = %s", [51])])
    assert pipe.results == [[], [(1,)]]  # the insert returns no rows
    assert _idle() and not connection.in_atomic_block
    assert ConsortiumKey.objects.filter(version=51).exists()


def test_a_committing_pipeline_that_fails_writes_nothing_and_leaves_no_transaction_open(transactional_db):
    with pytest.raises(DataError), pipeline(commit=True) as pipe:
        pipe.send([(_INSERT, {"version": 52}), ("SELECT 1 / %s::int", [0]), (_INSERT, {"version": 53})])
    assert _idle()
    with pytest.raises(RuntimeError), pipeline(commit=True) as pipe:
        pipe.send([(_INSERT, {"version": 54})])
        raise RuntimeError("the caller's own work failed between two sends")
    assert _idle()
    assert not ConsortiumKey.objects.filter(version__in=[52, 53, 54]).exists()
    assert execute_binary("SELECT 1", [], fetch=True) == [(1,)]


def test_a_committing_pipeline_inside_a_test_case_is_a_savepoint_of_the_tests_transaction(db):
    with pytest.raises(DataError), pipeline(commit=True) as pipe:
        pipe.send([(_INSERT, {"version": 55}), ("SELECT 1 / %s::int", [0])])
    with pipeline(commit=True) as pipe:
        pipe.send([(_INSERT, {"version": 56})])
    assert connection.in_atomic_block and not _idle()  # the test's transaction is still open
    assert list(ConsortiumKey.objects.filter(version__in=[55, 56]).values_list("version", flat=True)) == [56]


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


def test_a_committing_pipeline_is_one_transaction_begun_and_committed_in_it(transactional_db):
    """Settings made local to its transaction hold for its every statement, and not after it."""
    with CaptureQueriesContext(connection) as sent, pipeline(commit=True) as pipe:
        pipe.send([("SELECT set_config('lock_timeout', '1234ms', true)", [])], answered=False)
        pipe.send([(_INSERT, {"version": 57})], answered=False)
        pipe.send([("SELECT current_setting('lock_timeout'), txid_current_if_assigned() IS NOT NULL", [])])
    assert pipe.results == [[("1234ms", True)]]  # the insert's transaction is the same one
    assert execute_binary("SHOW lock_timeout", [], fetch=True) == [("0",)]
    assert _idle() and ConsortiumKey.objects.filter(version=57).exists()
    statements = [query["sql"] for query in sent]
    assert (statements[0], len(statements), statements[-1]) == ("BEGIN", 5, "COMMIT")


def test_a_committing_pipeline_refuses_to_run_inside_an_atomic_block(transactional_db):
    """As a durable atomic block does: it would otherwise become a savepoint and commit with the caller."""
    with transaction.atomic(), CaptureQueriesContext(connection) as sent:
        with pytest.raises(RuntimeError, match="owns its transaction"), pipeline(commit=True) as pipe:
            pipe.send([(_INSERT, {"version": 59})])
        assert sent.captured_queries == []
    assert _idle() and not ConsortiumKey.objects.filter(version=59).exists()


def test_a_fetch_inside_a_committing_pipeline_commits_nothing_yet(transactional_db):
    """A fetch syncs the pipeline; the transaction still ends only where the block does."""
    with pytest.raises(RuntimeError), pipeline(commit=True) as pipe:
        pipe.send([(_INSERT, {"version": 60})])
        assert pipe.fetch("SELECT count(*) FROM sharing_consortiumkey WHERE version = %s", [60]) == [(1,)]
        raise RuntimeError("the caller failed after the fetch")
    assert _idle() and not ConsortiumKey.objects.filter(version=60).exists()


def test_a_committing_pipeline_whose_fetch_failed_writes_nothing(transactional_db):
    with pytest.raises(DataError), pipeline(commit=True) as pipe:
        pipe.send([(_INSERT, {"version": 58}), ("SELECT 1 / %s::int", [0])])
        pipe.fetch("SELECT 1", [])
    assert _idle()
    assert not ConsortiumKey.objects.filter(version=58).exists()
