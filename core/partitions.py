"""Monthly range partitions of the logs that grow with traffic (PostgreSQL declarative partitioning).

Each app registers its partitioned tables (``partitioned_table_register``) when it is ready. Months are
calendar months in China (``TIME_ZONE``), like every business date: a partition holds
``[first day 00:00 +08, first day of the next month 00:00 +08)`` and is named ``<table>_pYYYYMM``.

- ``partitions_ensure`` (hourly job, and after every ``migrate``) creates the months from the current one to
  ``RISKSHARE_PARTITION_MONTHS_AHEAD`` ahead. Idempotent: what exists is left alone, each month is created in
  its own transaction, so an interruption (a database restart) leaves whole months or none.
- Each table has a ``<table>_default`` partition, so that a row whose time has no month (a clock far off, the
  job stopped for months) is kept, never refused. The job moves such rows into their month, creating it:
  the default partition is empty after each run, and a row found there is logged as an error.
- ``partition_drop`` detaches a month and drops it: retention without a row deleted.
- ``table_partition_by_month`` and ``table_unpartition`` turn a plain table into a partitioned one and back,
  rows included (the migrations that partitioned the logs).

A new month is created as a plain table and then attached (``ATTACH PARTITION`` takes a lock that lets
inserts and reads go on), never with ``CREATE TABLE … PARTITION OF``, which would wait for, and then block,
every transaction on the parent.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

import pgtrigger
from django.conf import settings
from django.db import connection, transaction

from core.citus import table_distribute_as
from core.clock import business_date, business_today

logger = logging.getLogger(__name__)

_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")
_MONTH_SUFFIX = re.compile(r"_p(\d{4})(\d{2})$")
# Arbitrary fixed first key of the advisory locks that serialize maintenance of one table.
_LOCK_CLASS = 731_422_731


@dataclass(frozen=True)
class PartitionedTable:
    table: str
    column: str
    # pgtrigger URIs of the table's append-only triggers: bypassed only to move rows out of the default partition.
    triggers: tuple[str, ...] = ()


_TABLES: dict[str, PartitionedTable] = {}


def partitioned_table_register(table: str, column: str, *, triggers: Iterable[str] = ()) -> None:
    assert _NAME.match(table) and _NAME.match(column), (table, column)
    _TABLES[table] = PartitionedTable(table, column, tuple(triggers))


def partitioned_tables() -> list[PartitionedTable]:
    return [_TABLES[name] for name in sorted(_TABLES)]


def month_of(day: dt.date) -> dt.date:
    return day.replace(day=1)


def month_add(month: dt.date, months: int) -> dt.date:
    index = month.year * 12 + month.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1)


def month_bounds(month: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """The first moment of ``month`` and of the next, in China."""
    zone = ZoneInfo(settings.TIME_ZONE)
    return (
        dt.datetime.combine(month, dt.time.min, tzinfo=zone),
        dt.datetime.combine(month_add(month, 1), dt.time.min, tzinfo=zone),
    )


def partition_name(table: str, month: dt.date) -> str:
    return f"{table}_p{month:%Y%m}"


def partition_months(table: str) -> list[dt.date]:
    """The months that have a partition, oldest first (the default partition is not one of them)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = to_regclass(%s)",
            [table],
        )
        names = [name for (name,) in cursor.fetchall()]
    months = []
    for name in names:
        match = _MONTH_SUFFIX.search(name)
        if match and name == partition_name(table, dt.date(int(match[1]), int(match[2]), 1)):
            months.append(dt.date(int(match[1]), int(match[2]), 1))
    return sorted(months)


def default_rows(table: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {table}_default")  # noqa: S608 - a registered table name
        return cursor.fetchone()[0]


def _month_create(spec: PartitionedTable, month: dt.date, *, stray: bool) -> None:
    """One month, attached, in the caller's transaction; with ``stray``, its rows in the default partition move in."""
    table, column = spec.table, spec.column
    name = partition_name(table, month)
    start, end = month_bounds(month)
    with connection.cursor() as cursor:
        # Waiting long for the lock would hold up everyone queued behind it: give up, the next run tries again.
        cursor.execute("SET LOCAL lock_timeout = '5s'")
        # Deferred foreign-key checks of rows this transaction wrote would forbid the ALTER TABLE.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute(f"CREATE TABLE {name} (LIKE {table} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)")
        table_distribute_as(connection, table=name, parent=table)
        if stray:
            # Rows of this month sit in the default partition: it is detached while they move, so that
            # attaching the month does not find them there.
            cursor.execute(f"ALTER TABLE {table} DETACH PARTITION {table}_default")
            cursor.execute(
                f"INSERT INTO {name} SELECT * FROM {table}_default WHERE {column} >= %s AND {column} < %s",  # noqa: S608
                [start, end],
            )
            with pgtrigger.ignore(*spec.triggers):
                cursor.execute(f"DELETE FROM {table}_default WHERE {column} >= %s AND {column} < %s", [start, end])  # noqa: S608
        cursor.execute(f"ALTER TABLE {table} ATTACH PARTITION {name} FOR VALUES FROM (%s) TO (%s)", [start, end])
        if stray:
            cursor.execute(f"ALTER TABLE {table} ATTACH PARTITION {table}_default DEFAULT")


@dataclass
class EnsureResult:
    created: list[str] = field(default_factory=list)
    # Rows found in a default partition (moved into their months).
    strays: dict[str, int] = field(default_factory=dict)


def partitions_ensure(
    *, today: dt.date | None = None, months_ahead: int | None = None, months_back: int = 0
) -> EnsureResult:
    """Create every registered table's partitions from ``months_back`` months before this one (a history about
    to be loaded) to ``months_ahead`` months ahead, and a month for any row found in a default partition.
    Idempotent; one committed transaction per month created."""
    today = today or business_today()
    ahead = settings.RISKSHARE_PARTITION_MONTHS_AHEAD if months_ahead is None else months_ahead
    wanted = {month_add(month_of(today), n) for n in range(-months_back, ahead + 1)}
    result = EnsureResult()
    for spec in partitioned_tables():
        with connection.cursor() as cursor:
            cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [f"{spec.table}_default"])
            if not cursor.fetchone()[0]:
                continue  # not partitioned (yet): a migration before the one that partitions it
            cursor.execute(
                f"SELECT DISTINCT {spec.column} FROM {spec.table}_default"  # noqa: S608 - registered names
            )
            strays = {month_of(business_date(moment)) for (moment,) in cursor.fetchall()}
        if strays:
            result.strays[spec.table] = default_rows(spec.table)
            logger.error(
                "%s rows of %s had no monthly partition (months %s): moved into new months",
                result.strays[spec.table],
                spec.table,
                ", ".join(f"{month:%Y-%m}" for month in sorted(strays)),
            )
        for month in sorted(wanted | strays):
            with transaction.atomic():
                with connection.cursor() as cursor:
                    # One maintainer of a table at a time; a second one waits, then finds the month there.
                    cursor.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", [_LOCK_CLASS, spec.table])
                if month in partition_months(spec.table):
                    continue
                _month_create(spec, month, stray=month in strays)
            result.created.append(partition_name(spec.table, month))
    return result


@dataclass(frozen=True)
class PartitionHorizon:
    table: str
    last_month: dt.date | None
    default_rows: int


def partitions_horizon() -> list[PartitionHorizon]:
    """Per registered table: the last month with a partition, and how many rows wait in its default partition."""
    horizon = []
    for spec in partitioned_tables():
        with connection.cursor() as cursor:
            cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [f"{spec.table}_default"])
            if not cursor.fetchone()[0]:
                continue
        months = partition_months(spec.table)
        horizon.append(PartitionHorizon(spec.table, months[-1] if months else None, default_rows(spec.table)))
    return horizon


def partition_drop(table: str, month: dt.date) -> None:
    """Detach and drop one month, in the caller's transaction. No row is deleted: the month's files go whole."""
    name = partition_name(table, month)
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL lock_timeout = '5s'")
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute(f"ALTER TABLE {table} DETACH PARTITION {name}")
        cursor.execute(f"DROP TABLE {name}")


# Migrations: a plain table into a partitioned one and back, keeping rows, indexes, triggers and the id sequence.


def _capture(cursor, table: str) -> tuple[list[str], list[str]]:
    """The table's own indexes (not its primary key) and its triggers, as statements that recreate them."""
    cursor.execute(
        "SELECT pg_get_indexdef(i.indexrelid) FROM pg_index i "
        "WHERE i.indrelid = %s::regclass AND NOT i.indisprimary ORDER BY i.indexrelid",
        [table],
    )
    indexes = [re.sub(r" ON ONLY ", " ON ", definition) for (definition,) in cursor.fetchall()]
    cursor.execute(
        "SELECT pg_get_triggerdef(t.oid), t.tgname, obj_description(t.oid, 'pg_trigger') FROM pg_trigger t "
        "WHERE t.tgrelid = %s::regclass AND NOT t.tgisinternal ORDER BY t.oid",
        [table],
    )
    triggers = []
    for definition, name, comment in cursor.fetchall():
        triggers.append(definition)
        if comment is not None:
            literal = "'" + comment.replace("'", "''") + "'"
            triggers.append(f"COMMENT ON TRIGGER {name} ON {table} IS {literal}")
    return indexes, triggers


def _sequence_value(cursor, table: str, identity: str) -> int:
    cursor.execute(f"SELECT coalesce(max({identity}), 0) FROM {table}")  # noqa: S608 - migration-fixed names
    high = cursor.fetchone()[0]
    cursor.execute("SELECT pg_get_serial_sequence(%s, %s)", [table, identity])
    (sequence,) = cursor.fetchone()
    if sequence:
        cursor.execute(f"SELECT CASE WHEN is_called THEN last_value ELSE last_value - 1 END FROM {sequence}")  # noqa: S608
        high = max(high, cursor.fetchone()[0])
    return high


def table_partition_by_month(
    schema_editor,
    *,
    table: str,
    column: str,
    primary_key: list[str],
    identity: str | None = None,
    today: dt.date | None = None,
) -> None:
    """Rebuild ``table`` as partitioned by month of ``column``: a month for each month with rows, the months ahead,
    the default partition; rows copied; the same indexes and triggers; ``primary_key`` (which must hold
    ``column``); ``identity`` keeps counting from where it was, now from a sequence (PostgreSQL 15 allows no
    identity column on a partitioned table)."""
    cursor = schema_editor.connection.cursor()
    indexes, triggers = _capture(cursor, table)
    high = _sequence_value(cursor, table, identity) if identity else 0
    staged = f"{table}_partitioned"
    cursor.execute(f"CREATE TABLE {staged} (LIKE {table} INCLUDING DEFAULTS) PARTITION BY RANGE ({column})")
    if identity:
        cursor.execute(f"ALTER TABLE {staged} ALTER COLUMN {identity} DROP DEFAULT")
    cursor.execute(f"SELECT DISTINCT {column} FROM {table}")  # noqa: S608
    months = {month_of(business_date(moment)) for (moment,) in cursor.fetchall()}
    now = month_of(today or business_today())
    months |= {month_add(now, n) for n in range(settings.RISKSHARE_PARTITION_MONTHS_AHEAD + 1)}
    for month in sorted(months):
        start, end = month_bounds(month)
        cursor.execute(
            f"CREATE TABLE {partition_name(table, month)} PARTITION OF {staged} FOR VALUES FROM (%s) TO (%s)",
            [start, end],
        )
    cursor.execute(f"CREATE TABLE {table}_default PARTITION OF {staged} DEFAULT")
    cursor.execute(f"INSERT INTO {staged} SELECT * FROM {table}")  # noqa: S608
    cursor.execute(f"DROP TABLE {table}")
    cursor.execute(f"ALTER TABLE {staged} RENAME TO {table}")
    cursor.execute(f"ALTER TABLE {table} ADD CONSTRAINT {table}_pkey PRIMARY KEY ({', '.join(primary_key)})")
    if identity:
        cursor.execute(f"CREATE SEQUENCE {table}_{identity}_seq OWNED BY {table}.{identity}")
        cursor.execute(f"SELECT setval('{table}_{identity}_seq', %s, %s)", [max(high, 1), high > 0])
        cursor.execute(f"ALTER TABLE {table} ALTER COLUMN {identity} SET DEFAULT nextval('{table}_{identity}_seq')")
    for statement in indexes + triggers:
        cursor.execute(statement)


def table_unpartition(schema_editor, *, table: str, primary_key: list[str], identity: str | None = None) -> None:
    """The reverse of ``table_partition_by_month``: one plain table again, rows, indexes and triggers kept."""
    cursor = schema_editor.connection.cursor()
    indexes, triggers = _capture(cursor, table)
    high = _sequence_value(cursor, table, identity) if identity else 0
    staged = f"{table}_plain"
    cursor.execute(f"CREATE TABLE {staged} (LIKE {table})")
    cursor.execute(f"INSERT INTO {staged} SELECT * FROM {table}")  # noqa: S608
    cursor.execute(f"DROP TABLE {table}")  # its partitions and its sequence go with it
    cursor.execute(f"ALTER TABLE {staged} RENAME TO {table}")
    cursor.execute(f"ALTER TABLE {table} ADD CONSTRAINT {table}_pkey PRIMARY KEY ({', '.join(primary_key)})")
    if identity:
        cursor.execute(
            f"ALTER TABLE {table} ALTER COLUMN {identity} ADD GENERATED BY DEFAULT AS IDENTITY (START WITH {high + 1})"
        )
    for statement in indexes + triggers:
        cursor.execute(statement)


def collect():
    """Prometheus gauges (``RISKSHARE_METRICS_COLLECTORS``): months ahead and rows waiting in default partitions."""
    from prometheus_client.core import GaugeMetricFamily

    ahead = GaugeMetricFamily(
        "riskshare_partition_months_ahead",
        "Whole months with a partition after the current one (alert below 1: the partitions job is not running).",
        labels=["table"],
    )
    strays = GaugeMetricFamily(
        "riskshare_partition_default_rows",
        "Rows that found no monthly partition and wait in the default one (alert above 0).",
        labels=["table"],
    )
    this_month = month_of(business_today())
    for horizon in partitions_horizon():
        months = 0
        if horizon.last_month is not None:
            months = (horizon.last_month.year - this_month.year) * 12 + horizon.last_month.month - this_month.month
        ahead.add_metric([horizon.table], months)
        strays.add_metric([horizon.table], horizon.default_rows)
    yield ahead
    yield strays
