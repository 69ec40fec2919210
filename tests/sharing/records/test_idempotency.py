"""Idempotency keys whose request died: free at once, because the claim's lock died with its session."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import orjson
import psycopg
import pytest
from django.db import connection

from sharing.models import Batch, ConsortiumKey, IdempotencyKey
from sharing.records.idempotency import _KEY_LOCK_CLASS, idempotency_claim, request_hash
from tests.conftest import database_url_of_test_database
from tests.sharing.conftest import blacklist, submit


@contextmanager
def key_held_elsewhere(key_id: int) -> Iterator[None]:
    """The key's lock held by another session, as a live request in another process holds it."""
    with psycopg.connect(database_url_of_test_database(), autocommit=True) as other:
        other.execute("SELECT pg_advisory_lock(%s, %s)", [_KEY_LOCK_CLASS, key_id])
        yield


@pytest.fixture
def key_v1_committed(transactional_db):
    return ConsortiumKey.objects.create(version=1, check_value="0" * 16, created_by="tests")


def _claim_in_a_session_that_dies(member_id: int, key: str, body: bytes) -> int:
    """Claim the key on a connection of its own, then lose that connection as a killed worker does."""
    claimed: list[int] = []
    failed: list[BaseException] = []

    def claim() -> None:
        try:
            claimed.append(idempotency_claim(member_id=member_id, key=key, body_hash=request_hash(body)).key_id)
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                (pid,) = cursor.fetchone()
            with psycopg.connect(database_url_of_test_database(), autocommit=True) as killer:
                # ::int: Citus adds a pg_terminate_backend(bigint) for its global process ids, and an
                # untyped parameter is then ambiguous.
                killer.execute("SELECT pg_terminate_backend(%s::int)", [pid])
        except BaseException as error:  # re-raised in the test's thread
            failed.append(error)
        finally:
            connection.close()  # a session that survived would hold the key's lock for the next test

    worker = threading.Thread(target=claim)
    worker.start()
    worker.join()
    if failed:
        raise failed[0]
    return claimed[0]


@pytest.mark.django_db(transaction=True)
def test_a_key_whose_request_died_is_free_for_the_first_retry(member_a, key_v1_committed):
    records = [blacklist()]
    body = orjson.dumps({"records": records})
    key_id = _claim_in_a_session_that_dies(member_a.institution.pk, "died", body)
    assert IdempotencyKey.objects.get(pk=key_id).state == "in_flight"  # the claim had committed

    retry = submit(member_a, records, key="died")

    assert retry.status_code == 202
    assert IdempotencyKey.objects.get(pk=key_id).state == "complete"
    assert Batch.objects.count() == 1
    assert submit(member_a, records, key="died").json() == retry.json()  # and it answers as the first


@pytest.mark.django_db(transaction=True)
def test_a_key_whose_request_lives_stays_in_flight(member_a, key_v1_committed):
    records = [blacklist()]
    body = orjson.dumps({"records": records})
    key_id = _claim_in_a_session_that_dies(member_a.institution.pk, "alive", body)
    with key_held_elsewhere(key_id):
        assert submit(member_a, records, key="alive").json()["code"] == "request_in_flight"
    assert submit(member_a, records, key="alive").status_code == 202
    assert Batch.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_the_answer_releases_the_key_lock(member_a, key_v1_committed):
    assert submit(member_a, [blacklist()], key="done").status_code == 202
    key_id = IdempotencyKey.objects.get(key="done").pk
    with psycopg.connect(database_url_of_test_database(), autocommit=True) as other:
        (free,) = other.execute("SELECT pg_try_advisory_lock(%s, %s)", [_KEY_LOCK_CLASS, key_id]).fetchone()
    assert free
