"""A test session whose DATABASE_URL names a Citus coordinator runs on the whole cluster (tests/citus.py)."""

from __future__ import annotations

import os

import pytest
from django.db import connection

from tests.citus import citus_workers


def test_the_session_database_is_on_every_node_of_the_cluster(db):
    workers = citus_workers(os.environ.get("DATABASE_URL", ""))
    if workers is None:
        pytest.skip("this session runs on a single PostgreSQL: DATABASE_URL names no Citus coordinator")
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_database(), extversion FROM pg_extension WHERE extname = 'citus'")
        database, version = cursor.fetchone()
        cursor.execute("SELECT nodename, nodeport FROM pg_dist_node WHERE groupid <> 0 AND isactive ORDER BY 2")
        active = cursor.fetchall()
        # A statement that needs every worker: each answers for its own copy of the database.
        cursor.execute("SELECT count(*) FROM run_command_on_workers('SELECT current_database()') WHERE success")
        answered = cursor.fetchone()[0]
    assert database.startswith("test_") and version
    assert [(host, int(port)) for host, port in active] == workers
    assert answered == len(workers)
