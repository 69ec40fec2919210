"""Citus, when the database has it: the same migrations and code serve a single PostgreSQL and a Citus cluster.

A migration that distributes tables asks ``citus_present`` first and does nothing on a plain PostgreSQL (the
embedded default, small deployments, the test databases). On a cluster the extension is created in the database
on every node before the workers are added (``deploy/citus/devcluster createdb``; docs/operations.md, "Citus"),
so its presence in ``pg_extension`` of the coordinator is what tells the two apart. docs/design.md,
"Distribution (Citus)", says which table goes where and why.
"""

from __future__ import annotations

import re

from django.db.backends.base.base import BaseDatabaseWrapper

_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")
# What a new session runs (connection_plans_adapt): plan_cache_mode back to auto where Citus is installed.
PLANS_ADAPT_SQL = "SELECT set_config('plan_cache_mode', 'auto', false) FROM pg_extension WHERE extname = 'citus'"


def citus_present(connection: BaseDatabaseWrapper) -> bool:
    """Whether the ``citus`` extension is installed in the connection's database (not merely available)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_extension WHERE extname = 'citus'")
        return cursor.fetchone() is not None


def connection_plans_adapt(sender, connection: BaseDatabaseWrapper, **kwargs) -> None:
    """On a Citus cluster, let each new session's prepared statements plan as PostgreSQL chooses (``auto``).

    settings.py makes every session plan its server-bound statements generically (``force_generic_plan``), which
    pays on a single PostgreSQL. Citus can route a generic plan only when it names the distribution column by a
    value (``token = $1``); any statement it must plan in steps (a join of a distributed and a local table, a
    data-modifying CTE) it refuses as generic: ``could not create distributed plan … Possibly this is caused by
    the use of parameters in SQL functions``. Under ``auto`` Citus makes PostgreSQL choose custom plans for those
    and keeps the generic ones it can route. A ``connection_created`` receiver (core.apps): one statement when a
    session opens, which changes nothing where the extension is absent.
    """
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute(PLANS_ADAPT_SQL)


def table_distribute(
    connection: BaseDatabaseWrapper,
    *,
    table: str,
    column: str,
    colocate_with: str | None = None,
    with_triggers: bool = False,
) -> None:
    """Shard ``table`` by the hash of ``column``, beside ``colocate_with``'s shards when given (same column type).

    Citus refuses a table with triggers (``cannot distribute relation … because it has triggers``): a trigger
    runs on each shard, and one that writes elsewhere would not find the other shards. ``with_triggers`` says
    the table's triggers only refuse (the append-only guards) and may run there; the setting is this
    transaction's only.
    """
    assert _NAME.match(table) and _NAME.match(column), (table, column)
    with connection.cursor() as cursor:
        if with_triggers:
            cursor.execute("SET LOCAL citus.enable_unsafe_triggers TO on")
        if colocate_with is None:
            cursor.execute("SELECT create_distributed_table(%s, %s)", [table, column])
        else:
            cursor.execute(
                "SELECT create_distributed_table(%s, %s, colocate_with => %s)", [table, column, colocate_with]
            )


def table_distribute_as(connection: BaseDatabaseWrapper, *, table: str, parent: str) -> None:
    """Shard ``table`` as ``parent`` is sharded, beside its shards, when ``parent`` is a hash-distributed
    table; nothing otherwise (a plain PostgreSQL, a coordinator table). For a month made before it is
    attached (core.partitions): attaching distributes a plain month too, but creates its shards over new
    connections to the workers, which wait for the locks that the transaction's earlier writes to the
    parent's shards hold, and Citus cancels it as a distributed deadlock. Distributed first, before the
    month's transaction writes anything, attaching it creates nothing."""
    assert _NAME.match(table) and _NAME.match(parent), (table, parent)
    if not citus_present(connection):
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT column_to_column_name(logicalrelid, partkey) FROM pg_dist_partition"
            " WHERE logicalrelid = %s::regclass AND partmethod = 'h'",
            [parent],
        )
        row = cursor.fetchone()
    if row is not None:
        table_distribute(connection, table=table, column=row[0], colocate_with=parent)


def table_replicate(connection: BaseDatabaseWrapper, *, table: str) -> None:
    """Make ``table`` a reference table: a full copy on every node, for joins with any shard."""
    assert _NAME.match(table), table
    with connection.cursor() as cursor:
        cursor.execute("SELECT create_reference_table(%s)", [table])


def table_undistribute(connection: BaseDatabaseWrapper, *, table: str) -> None:
    """Bring a distributed or reference table back to the coordinator as a plain table, rows included.

    Citus refuses to undistribute a table with an identity column (``cannot complete operation on a table with
    identity column``) and to drop the identity of a distributed table (``alter table command is currently
    unsupported``). So the identity is dropped from the coordinator's table alone (DDL propagation off: the
    shards that keep theirs are dropped with the distribution), and added back to the plain table, its
    sequence set past the highest id, as Django's ``sqlsequencereset`` does.
    """
    assert _NAME.match(table), table
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass AND attidentity <> '' AND NOT attisdropped",
            [table],
        )
        identities = [name for (name,) in cursor.fetchall()]
        assert all(_NAME.match(name) for name in identities), identities
        if identities:
            cursor.execute("SET LOCAL citus.enable_ddl_propagation TO off")
            for column in identities:
                cursor.execute(f'ALTER TABLE "{table}" ALTER COLUMN "{column}" DROP IDENTITY')
            cursor.execute("SET LOCAL citus.enable_ddl_propagation TO on")
        cursor.execute("SELECT undistribute_table(%s)", [table])
        for column in identities:
            cursor.execute(f'ALTER TABLE "{table}" ALTER COLUMN "{column}" ADD GENERATED BY DEFAULT AS IDENTITY')
            highest = f'SELECT max("{column}") FROM "{table}"'  # noqa: S608 - names checked above
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence(%s, %s), coalesce(({highest}), 1), ({highest}) IS NOT NULL)",
                [table, column],
            )
