"""The test session on a Citus cluster: ``DATABASE_URL`` at a coordinator runs the whole suite there.

Citus keeps its metadata per database, so Django's ``CREATE DATABASE test_…`` on the coordinator alone would
give a database with no extension and no workers: the migrations would then distribute nothing and the suite
would run on the coordinator as on a single PostgreSQL. Instead, before Django sets up its test database, the
session creates it on every node of the cluster (the nodes read from the coordinator's ``pg_dist_node``), with
the extension in each, then tells the new database's coordinator of itself and of the workers
(``../shared/citus/NOTES.md``: ``citus_add_node`` fails while a worker's database lacks the extension). Django
then keeps that database (``keepdb``) and migrates it; the session drops it on every node at the end.

The nodes are reached as the coordinator is (same user and password, each node's own host and port).
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

# Enough for the session's databases (a test database, a few made by tests) to be made on every node.
CONNECT = {"autocommit": True, "connect_timeout": 5}


def citus_workers(url: str) -> list[tuple[str, int]] | None:
    """The cluster's workers when ``url`` names a Citus coordinator with workers; None otherwise."""
    try:
        with psycopg.connect(url, **CONNECT) as connection:
            if not connection.execute("SELECT 1 FROM pg_extension WHERE extname = 'citus'").fetchone():
                return None
            rows = connection.execute(
                "SELECT nodename, nodeport FROM pg_dist_node WHERE groupid <> 0 AND noderole = 'primary' ORDER BY 2"
            ).fetchall()
    except psycopg.Error:
        return None
    return [(host, int(port)) for host, port in rows] or None


def _at(url: str, *, host: str | None = None, port: int | None = None, database: str) -> str:
    parts = urlsplit(url)
    userinfo, _at_sign, hostport = parts.netloc.rpartition("@")
    current_host, _colon, current_port = hostport.partition(":")
    netloc = f"{host or current_host}:{port or current_port or 5432}"
    return urlunsplit(parts._replace(netloc=f"{userinfo}@{netloc}" if userinfo else netloc, path=f"/{database}"))


def _nodes(url: str, workers: list[tuple[str, int]]) -> list[str]:
    """The maintenance database (postgres) of the coordinator, then of each worker."""
    return [_at(url, database="postgres")] + [_at(url, host=h, port=p, database="postgres") for h, p in workers]


def cluster_database_create(url: str, name: str, workers: list[tuple[str, int]]) -> None:
    """``name`` afresh on every node with the extension, the coordinator told of itself and of the workers."""
    cluster_database_drop(url, name, workers)
    for node in _nodes(url, workers):
        with psycopg.connect(node, **CONNECT) as connection:
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        with psycopg.connect(node.rsplit("/", 1)[0] + f"/{name}", **CONNECT) as connection:
            connection.execute("CREATE EXTENSION citus")
    coordinator = urlsplit(url)
    with psycopg.connect(_at(url, database=name), **CONNECT) as connection:
        connection.execute(
            "SELECT citus_set_coordinator_host(%s, %s)", [coordinator.hostname, coordinator.port or 5432]
        )
        for host, port in workers:
            connection.execute("SELECT citus_add_node(%s, %s)", [host, port])


def cluster_database_drop(url: str, name: str, workers: list[tuple[str, int]]) -> None:
    # The coordinator first: its maintenance daemon would otherwise reconnect to the workers' copies.
    for node in _nodes(url, workers):
        with psycopg.connect(node, **CONNECT) as connection:
            connection.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
