"""Faults against a served platform: its own PostgreSQL cluster restarted mid-test, a broker that is down,
clients that trickle their bodies. gunicorn with gunicorn.conf.py, as production runs it."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import threading
import time
import uuid

import httpx
import orjson
import psycopg
import pytest

from tests.served import (
    BASE_DIR,
    Gunicorn,
    PrivateCluster,
    closed_port,
    platform_env,
    platform_prepare,
    record,
    slow_body,
)

pytestmark = pytest.mark.skipif(not PrivateCluster.available(), reason="needs the PostgreSQL server binaries")


@pytest.fixture(scope="module")
def platform():
    cluster = PrivateCluster()
    try:
        cluster.init()
        cluster.start()
        cluster.create_database()
        # The broker is down for the whole module: a closed loopback port.
        env = platform_env(cluster.url(), f"redis://127.0.0.1:{closed_port()}/0")
        key = platform_prepare(env, cluster.root)
        server = Gunicorn(env, workers=1, threads=4, log=cluster.root / "gunicorn.log")
        server.start()
        try:
            yield cluster, server, key
        finally:
            server.stop()
    finally:
        cluster.destroy()


def post_batch(server: Gunicorn, key: str, body: bytes, idempotency_key: str, timeout: float = 30) -> httpx.Response:
    return httpx.post(
        f"{server.url}/api/v1/batches",
        content=body,
        headers={
            "Authorization": f"Bearer {key}",
            "Content-Type": "application/json",
            "Idempotency-Key": idempotency_key,
        },
        timeout=timeout,
    )


def batch_body() -> bytes:
    return orjson.dumps({"records": [record() for _ in range(3)]})


def test_two_slow_bodies_do_not_take_the_server(platform):
    _cluster, server, _key = platform
    trickling = [slow_body(server.url) for _ in range(2)]
    try:
        for connection in trickling:
            connection.sendall(b" ")
        started = time.monotonic()
        assert httpx.get(f"{server.url}/healthz", timeout=5).status_code == 200
        assert time.monotonic() - started < 2
    finally:
        for connection in trickling:
            connection.close()


def test_with_the_broker_down_a_batch_is_answered_at_once_and_marked_for_the_sweep(platform):
    cluster, server, key = platform
    started = time.monotonic()
    response = post_batch(server, key, batch_body(), str(uuid.uuid4()))
    elapsed = time.monotonic() - started
    assert response.status_code == 202
    assert elapsed < 2  # it took 19 s: kombu's and the result backend's retries, inside the request
    with psycopg.connect(cluster.url()) as connection:
        (failed,) = connection.execute(
            "SELECT enqueue_failed FROM sharing_batch WHERE id = %s", [response.json()["id"]]
        ).fetchone()
    assert failed


def test_a_database_restart_answers_503_and_frees_the_keys_of_requests_it_killed(platform):
    cluster, server, key = platform
    body, idempotency_key = batch_body(), str(uuid.uuid4())
    answers: list[httpx.Response] = []
    blocker = psycopg.connect(cluster.url())
    try:
        # The batch's insert waits behind this lock, after its Idempotency-Key claim has committed.
        blocker.execute("LOCK TABLE sharing_batch IN ACCESS EXCLUSIVE MODE")
        in_flight = threading.Thread(target=lambda: answers.append(post_batch(server, key, body, idempotency_key)))
        in_flight.start()
        deadline = time.monotonic() + 20
        with psycopg.connect(cluster.url(), autocommit=True) as watcher:  # a fresh statistics snapshot a query
            while time.monotonic() < deadline:
                (claimed,) = watcher.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = 'riskshare'"
                ).fetchone()
                if claimed:
                    break
                time.sleep(0.1)
        assert claimed
        cluster.stop("fast")  # the request dies with its transaction
    finally:
        with contextlib.suppress(psycopg.Error):
            blocker.close()
    in_flight.join(timeout=30)
    try:
        [died] = answers
        assert died.status_code == 503 and died.json()["code"] == "database_unavailable"
        while_down = post_batch(server, key, body, idempotency_key)
        assert while_down.status_code == 503
        assert while_down.headers["Content-Type"] == "application/problem+json"
        assert while_down.json()["code"] == "database_unavailable"
        assert int(while_down.headers["Retry-After"]) >= 1
        assert httpx.get(f"{server.url}/readyz", timeout=10).status_code == 503
    finally:
        cluster.start()
    retry = post_batch(server, key, body, idempotency_key)
    assert retry.status_code == 202  # the first retry after recovery: no 409 request_in_flight
    assert post_batch(server, key, body, idempotency_key).json() == retry.json()
    with psycopg.connect(cluster.url()) as connection:
        (batches,) = connection.execute(
            "SELECT count(*) FROM sharing_batch WHERE id = %s", [retry.json()["id"]]
        ).fetchone()
    assert batches == 1


def _partition_state(url: str) -> tuple[dict[str, int], set[str], set[str]]:
    """Row counts of the partitioned logs, their attached partitions, and month tables attached to nothing."""
    with psycopg.connect(url) as connection:
        counts = {
            table: connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # noqa: S608
            for table in ("members_auditevent", "sharing_lookup", "sharing_lookupentry")
        }
        attached = {
            name
            for (name,) in connection.execute(
                "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                "WHERE i.inhparent::regclass::text IN ('members_auditevent', 'sharing_lookup', 'sharing_lookupentry')"
            ).fetchall()
        }
        loose = {
            name
            for (name,) in connection.execute(
                "SELECT relname FROM pg_class WHERE relkind = 'r' AND NOT relispartition "
                "AND relname ~ '^(members_auditevent|sharing_lookup|sharing_lookupentry)_(p[0-9]{6}|default)$'"
            ).fetchall()
        }
    return counts, attached, loose


def test_a_database_restart_in_the_middle_of_creating_partitions_loses_nothing(platform):
    cluster, server, key = platform
    token = "ab" * 32
    body = orjson.dumps(
        {"purpose": "fraud_investigation", "key_version": 1, "identifiers": [{"type": "cn_mobile", "token": token}]}
    )
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    assert httpx.post(f"{server.url}/api/v1/lookups", content=body, headers=headers, timeout=30).status_code == 200
    before, attached_before, _loose = _partition_state(cluster.url())
    env = platform_env(cluster.url(), f"redis://127.0.0.1:{closed_port()}/0")
    ensure = [
        sys.executable,
        "manage.py",
        "shell",
        "-c",
        "from core.partitions import partitions_ensure; partitions_ensure(months_ahead=9)",
    ]
    blocker = psycopg.connect(cluster.url())
    job = None
    try:
        # The job attaches the entries' new months behind this lock, after the other tables' months committed.
        blocker.execute("LOCK TABLE sharing_lookupentry IN SHARE MODE")
        job = subprocess.Popen(ensure, cwd=BASE_DIR, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # noqa: S603
        deadline = time.monotonic() + 60
        waiting = 0
        with psycopg.connect(cluster.url(), autocommit=True) as watcher:
            while time.monotonic() < deadline and not waiting:
                (waiting,) = watcher.execute(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE wait_event_type = 'Lock' AND query ~ 'ATTACH PARTITION'"
                ).fetchone()
                time.sleep(0.1)
        assert waiting
        cluster.stop("immediate")  # a crash, mid-transaction
    finally:
        with contextlib.suppress(psycopg.Error):
            blocker.close()
        if job is not None:
            job.wait(timeout=60)
        cluster.start()
    assert job.returncode != 0  # it died with the database
    after, attached_after, loose = _partition_state(cluster.url())
    assert after == before  # not a row lost
    assert loose == set()  # no month table half made: created and attached in one transaction, or not at all
    assert attached_before <= attached_after
    # Run again, it finishes the work; the platform answers as before.
    subprocess.run(ensure, cwd=BASE_DIR, env=env, check=True, capture_output=True)  # noqa: S603
    _counts, attached_done, loose = _partition_state(cluster.url())
    assert loose == set()
    assert len([n for n in attached_done if n.startswith("sharing_lookupentry_p")]) == len(
        [n for n in attached_done if n.startswith("sharing_lookup_p")]
    )
    assert httpx.post(f"{server.url}/api/v1/lookups", content=body, headers=headers, timeout=30).status_code == 200
