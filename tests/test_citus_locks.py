"""What Citus changes about locks, notifications and transactions, held on the cluster (issue 32).

Each test runs when DATABASE_URL names a Citus coordinator with workers (CI's Citus pass of the suite,
tests/citus.py) and is skipped on a single PostgreSQL, where none of it can go wrong.

- **Advisory locks are per node.** A lock function evaluated per row of a distributed table runs in a worker's
  connection, not the application's (../shared/citus/NOTES.md); the lock then guards nothing the application
  can see, and it ends with that connection. The idempotency claim (its ``pg_try_advisory_lock`` reads the
  claimed row from a CTE) and the matching ranges' ``pg_advisory_xact_lock`` (over ``unnest``, no table) are
  taken by the application's own backend on the coordinator: held here from ``pg_locks``, on the coordinator
  and on every worker, and by a second session that is refused or waits. Tried on the cluster: a lock in the
  outer query of a plain ``WITH c AS (SELECT … FROM distributed WHERE token = …)`` lands on a worker (Citus
  inlines the CTE and sends the whole query to the shard); the claim's CTE is an ``INSERT … RETURNING``,
  which Citus runs first, as a subplan, so its lock stays on the coordinator also with the keys' table
  distributed by member (a scratch table shaped as ``sharing_idempotencykey``).
- **Parallel multi-shard writes, then a reference-table write, in one transaction.** Citus refuses the
  second (``cannot execute DML on table … because there was a parallel DML access to distributed table …``)
  only when a foreign key joins a hash-distributed table to that reference table (relation_access_tracking.c,
  ``CheckConflictingParallelRelationAccesses``; tried on scratch tables: with the key the write fails,
  without it or after ``SET LOCAL citus.multi_shard_modify_mode TO 'sequential'`` it commits). No code path
  of the application writes the key versions (the only reference table) in a transaction that also writes
  summaries or dirty tokens: a key's creation and retirement are transactions of their own, and
  ``consortium_key_retire --withdraw-remaining`` retires first, then retracts each record in its own
  transaction. The tests drive those paths inside one transaction anyway, as a test's own transaction and
  any caller that wraps them does, and hold that no foreign key links a distributed table to a reference
  table: the day one does, those writes need ``citus.multi_shard_modify_mode = 'sequential'`` first.
- **NOTIFY.** A ``pg_notify`` in a trigger on a reference table makes every write to it fail (the shards'
  transactions are prepared, and ``cannot PREPARE a transaction that has executed LISTEN, UNLISTEN, or
  NOTIFY``). Found: nothing issues NOTIFY or LISTEN today. ``members.0003`` had pgtrigger triggers calling
  ``pg_notify('riskshare_credentials_changed')`` on ``members_credential`` and ``members_institution`` (both
  reference tables in the plan) and ``members.0004`` dropped them; pghistory and pgtrigger add none of their
  own; the broker and the result backend are Redis (kombu's PostgreSQL transport, which can NOTIFY, is not
  used). The test holds that no trigger in the database notifies, and that a key version's write commits.
- **FOR UPDATE within one shard only.** Nothing locks rows of the distributed tables: the dirty-token drain
  takes its chunk by token, without ``FOR UPDATE SKIP LOCKED`` (sharing.records.matching); the one
  ``select_for_update`` on a Citus table is the key retirement's, on the reference table (one shard). Every
  other ``select_for_update`` is on a table still local to the coordinator.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable
from io import StringIO

import orjson
import psycopg
import pytest
from django.core.management import call_command
from django.db import connection, connections, transaction
from django.test.utils import CaptureQueriesContext

from members.audit import Actor
from sharing.models import ConsortiumKey, IdempotencyKey, Record, TokenSummary
from sharing.records.idempotency import _KEY_LOCK_CLASS, idempotency_claim, idempotency_release, request_hash
from sharing.records.matching import (
    _MATCHING_LOCK_CLASS,
    MATCHING_RANGES,
    dirty_tokens_drain,
    dirty_tokens_pending,
    summaries_refresh,
    token_range,
    tokens_mark_dirty,
)
from sharing.records.services import batch_process
from sharing.tokens.pepper import pepper_token
from sharing.tokens.services import consortium_key_create
from tests.citus import citus_workers
from tests.conftest import database_url_of_test_database
from tests.sharing.conftest import blacklist, new_token, submit

# Enough tokens that their summaries sit on shards of both workers (32 shards: all on one worker ~ 2**-23).
_SPREAD = 24


@pytest.fixture
def workers(transactional_db) -> list[tuple[str, int]]:
    found = citus_workers(os.environ.get("DATABASE_URL", ""))
    if found is None:
        pytest.skip("this session runs on a single PostgreSQL: DATABASE_URL names no Citus coordinator")
    return found


@pytest.fixture
def key_v1(transactional_db) -> ConsortiumKey:
    return ConsortiumKey.objects.create(version=1, check_value="0" * 16, created_by="tests")


def _backend_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def _advisory_holders(first: int, second: int) -> list[int]:
    """The coordinator's backends (of this database) that hold the two-key advisory lock (first, second)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND classid = %s::oid AND objid = %s::oid"
            " AND objsubid = 2 AND granted"
            " AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) ORDER BY pid",
            [first, second],
        )
        return [pid for (pid,) in cursor.fetchall()]


def _advisory_held_on_workers(first: int, second: int, workers: list[tuple[str, int]]) -> dict[int, int]:
    """How many advisory locks (first, second) each worker holds, in any of its databases."""
    with connection.cursor() as cursor:
        # The command is made on the server (format's %s): each worker runs it in its copy of the database.
        cursor.execute(
            "SELECT nodeport, success, result FROM run_command_on_workers(format("
            "'SELECT count(*) FROM pg_locks WHERE locktype = ''advisory'' AND classid = %%s AND objid = %%s"
            " AND objsubid = 2', %s::bigint, %s::bigint))",
            [first, second],
        )
        answers = cursor.fetchall()
    assert sorted(port for port, _success, _result in answers) == sorted(port for _host, port in workers)
    assert all(success for _port, success, _result in answers), answers
    return {port: int(result) for port, _success, result in answers}


def _in_another_session(work: Callable[[], object]) -> object:
    """``work``'s answer, run on a database session of its own (another thread: another Django connection)."""
    answers: list[object] = []
    failed: list[BaseException] = []

    def run() -> None:
        try:
            answers.append(work())
        except BaseException as error:  # re-raised in the test's thread
            failed.append(error)
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(timeout=60)
    if failed:
        raise failed[0]
    return answers[0]


def _nodes_of(tokens: list[bytes]) -> int:
    """On how many nodes the shards of these tokens' summaries are placed."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(DISTINCT p.groupid) FROM unnest(%s::bytea[]) AS t"
            " JOIN pg_dist_placement p ON p.shardid = get_shard_id_for_distribution_column('sharing_tokensummary', t)",
            [tokens],
        )
        return cursor.fetchone()[0]


def test_the_idempotency_claim_locks_in_the_applications_own_backend(workers, member_a, key_v1):
    """A request that owns a key holds its lock in its own session on the coordinator; another is refused.

    The lock must live in the session that does the work: a lock taken by a worker's connection would end
    with that connection and leave the key to be taken over while its request still runs (a second batch).
    """
    records = [blacklist()]
    body = orjson.dumps({"records": records})
    claim = idempotency_claim(member_id=member_a.institution.pk, key="held", body_hash=request_hash(body))
    assert claim.key_id is not None
    lock = (_KEY_LOCK_CLASS, claim.key_id % 2147483647)

    assert _advisory_holders(*lock) == [_backend_pid()]
    assert set(_advisory_held_on_workers(*lock, workers).values()) == {0}
    refused = _in_another_session(lambda: submit(member_a, records, key="held"))
    assert refused.status_code == 409 and refused.json()["code"] == "request_in_flight"

    idempotency_release(key_id=claim.key_id)  # as a failed request does: the key and its lock go
    assert _advisory_holders(*lock) == []
    accepted = _in_another_session(lambda: submit(member_a, records, key="held"))
    assert accepted.status_code == 202
    assert IdempotencyKey.objects.get(member=member_a.institution, key="held").state == "complete"


def test_a_matching_range_is_locked_in_the_applications_own_backend(workers):
    """A refresh holds its tokens' range lock in the application's coordinator session until it commits.

    Another session wanting the range waits (here: gives up at its lock timeout); another range is free.
    """
    token = pepper_token(new_token())
    taken = token_range(token)
    other = (taken + 1) % MATCHING_RANGES
    with psycopg.connect(database_url_of_test_database(), autocommit=True) as elsewhere:
        with transaction.atomic():
            summaries_refresh([token])
            assert _advisory_holders(_MATCHING_LOCK_CLASS, taken) == [_backend_pid()]
            assert _advisory_holders(_MATCHING_LOCK_CLASS, other) == []
            assert set(_advisory_held_on_workers(_MATCHING_LOCK_CLASS, taken, workers).values()) == {0}
            elsewhere.execute("SET lock_timeout = '200ms'")
            with pytest.raises(psycopg.errors.LockNotAvailable):
                elsewhere.execute("SELECT pg_advisory_xact_lock(%s, %s)", [_MATCHING_LOCK_CLASS, taken])
            (free,) = elsewhere.execute(
                "SELECT pg_try_advisory_xact_lock(%s, %s)", [_MATCHING_LOCK_CLASS, other]
            ).fetchone()
            assert free
        assert _advisory_holders(_MATCHING_LOCK_CLASS, taken) == []  # the commit let it go
        (free,) = elsewhere.execute(
            "SELECT pg_try_advisory_xact_lock(%s, %s)", [_MATCHING_LOCK_CLASS, taken]
        ).fetchone()
        assert free


def _reported_and_matched(member, count: int) -> list[bytes]:
    """``count`` blacklist records of ``member`` under key version 1, matched: their peppered tokens."""
    tokens = [new_token() for _ in range(count)]
    response = submit(member, [blacklist([token]) for token in tokens])
    assert response.status_code == 202, response.content
    batch_process(batch_id=response.json()["id"])  # done already where tasks run eagerly on commit
    peppered = [pepper_token(token) for token in tokens]
    assert TokenSummary.objects.filter(token__in=peppered).count() == count
    return peppered


def test_multi_shard_writes_and_key_version_writes_commit_in_one_transaction(workers, member_a, key_v1):
    """Summaries and dirty tokens written across shards in parallel, then the key versions, then the other way.

    Parallel mode (Citus's default) is kept: with no foreign key between the sharded tables and the key
    versions, Citus has nothing to refuse. The next test holds that condition.
    """
    peppered = _reported_and_matched(member_a, _SPREAD)
    assert _nodes_of(peppered) == len(workers)
    actor = Actor.system("tests")
    with transaction.atomic():
        with connection.cursor() as cursor:
            # The test session runs in sequential mode (tests/conftest.py says why); the platform does not.
            cursor.execute("SET LOCAL citus.multi_shard_modify_mode TO 'parallel'")
            cursor.execute("SHOW citus.multi_shard_modify_mode")
            assert cursor.fetchone()[0] == "parallel"
        tokens_mark_dirty(peppered)  # one INSERT into every shard that holds one
        assert dirty_tokens_drain() == _SPREAD  # a DELETE and an upsert on every shard
        consortium_key_create(actor=actor)  # a reference-table INSERT after them
        # A reference-table SELECT … FOR UPDATE and UPDATE, then each record retracted: its summaries
        # refreshed across the shards after the reference-table write.
        call_command(
            "consortium_key_retire", key_version=1, reason="moved to v2", withdraw_remaining=True, stdout=StringIO()
        )
    assert dict(ConsortiumKey.objects.values_list("version", "state")) == {1: "retired", 2: "current"}
    assert set(Record.objects.values_list("status", flat=True)) == {"retracted"}
    assert not TokenSummary.objects.filter(token__in=peppered).exists()


def test_no_distributed_table_has_a_foreign_key_to_a_reference_table(workers):
    """The condition under which the writes above need no sequential mode (relation_access_tracking.c)."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT c.conrelid::regclass::text, c.confrelid::regclass::text
            FROM pg_constraint c
            JOIN pg_dist_partition referencing ON referencing.logicalrelid = c.conrelid
            JOIN pg_dist_partition referenced ON referenced.logicalrelid = c.confrelid
            WHERE c.contype = 'f' AND referencing.partmethod = 'h' AND referenced.partmethod = 'n'
            """
        )
        keys = cursor.fetchall()
    assert keys == [], (
        "a parallel multi-shard write to the first table, then a write to the second in one transaction, is "
        "refused across these keys: issue such writes with citus.multi_shard_modify_mode = 'sequential'"
    )


def test_nothing_notifies_and_a_key_version_write_commits(workers):
    """No trigger calls NOTIFY: on a reference table (institutions and credentials will be) every write would fail.

    The write itself is the check that matters for the key versions: it commits through the shards' prepared
    transactions, which a notifying trigger on the reference table would make fail.
    """
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT t.tgrelid::regclass::text, t.tgname
            FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid
            WHERE NOT t.tgisinternal AND p.prosrc ~* '(pg_notify|\\mnotify\\M)'
            """
        )
        assert cursor.fetchall() == []
    key, _material = consortium_key_create(actor=Actor.system("tests"))
    assert ConsortiumKey.objects.get(version=key.version).state == "current"


def test_the_drain_runs_across_shards_without_row_locks(workers, member_a, key_v1):
    """Tokens an update took away from records are queued on their shards and drained by token.

    Citus refuses ``FOR UPDATE`` in a statement that spans shards (``could not run distributed query with
    FOR UPDATE/SHARE commands``): the drain holds every range's advisory lock instead.
    """
    old = _reported_and_matched(member_a, _SPREAD)
    # Re-sending the records with other identifiers takes their old tokens away: those are queued.
    records = Record.objects.filter(member=member_a.institution).values_list("reference", flat=True)
    resent = [blacklist([new_token()], reference=reference) for reference in records]
    assert submit(member_a, resent).status_code == 202
    with connection.cursor() as cursor:
        cursor.execute("SELECT array_agg(token) FROM sharing_dirtytoken")
        queued = [bytes(token) for token in cursor.fetchone()[0] or []]
    if not queued:  # tasks ran eagerly on commit and drained the queue already: queue them again
        tokens_mark_dirty(old)
        queued = old
    assert sorted(queued) == sorted(old) and _nodes_of(queued) == len(workers)

    with CaptureQueriesContext(connection) as statements:
        assert dirty_tokens_drain() == _SPREAD
    assert dirty_tokens_pending() == 0
    assert not TokenSummary.objects.filter(token__in=old).exists()
    # The drain's SQL says in a comment why it has no FOR UPDATE: comments are left out.
    row_locks = re.compile(r"\bFOR\s+(UPDATE|SHARE|NO\s+KEY\s+UPDATE|KEY\s+SHARE)\b", re.IGNORECASE)
    sent = [re.sub(r"--[^\n]*", "", query["sql"]) for query in statements]
    assert len(sent) >= 2 and [sql for sql in sent if row_locks.search(sql)] == []
