"""The logs' monthly partitions: months in China, created ahead by an idempotent job, rows outside every month
kept and moved into their month, the inquiry count probing only the months its 90 days span."""

from __future__ import annotations

import datetime as dt
import json

import pytest
import time_machine
from django.db import connection

from core.partitions import (
    month_add,
    month_bounds,
    partition_months,
    partitions_ensure,
    partitions_horizon,
)
from members.audit import Actor, audit_event_record
from members.models import AuditEvent
from sharing.models import Lookup, LookupEntry
from tests.sharing.conftest import lookup, new_token

SHANGHAI = dt.timezone(dt.timedelta(hours=8))
TABLES = ("members_auditevent", "sharing_lookup", "sharing_lookupentry")


def partition_of(table: str, pk_column: str, pk) -> str:
    # On a Citus cluster a distributed table's row is read from a shard, named after its partition plus
    # "_<shard id>" (sharing_lookupentry_p203102_102489); partitions end in "_pYYYYMM" or "_default".
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT regexp_replace(tableoid::regclass::text, '_[0-9]+$', '') FROM {table} WHERE {pk_column} = %s",  # noqa: S608
            [pk],
        )
        return cursor.fetchone()[0]


def test_a_month_is_a_calendar_month_in_china():
    start, end = month_bounds(dt.date(2027, 1, 1))
    assert start == dt.datetime(2027, 1, 1, tzinfo=SHANGHAI) == dt.datetime(2026, 12, 31, 16, tzinfo=dt.UTC)
    assert end == dt.datetime(2027, 2, 1, tzinfo=SHANGHAI)


def test_a_fresh_install_has_this_month_and_the_months_ahead(db, settings):
    # migrate ran partitions_ensure (post_migrate) when the test database was created.
    for table in TABLES:
        months = partition_months(table)
        this_month = dt.datetime.now(SHANGHAI).date().replace(day=1)
        assert this_month in months
        assert max(months) == month_add(this_month, settings.RISKSHARE_PARTITION_MONTHS_AHEAD)


def test_the_job_is_idempotent_and_keeps_the_horizon_ahead_of_the_clock(db, settings):
    settings.RISKSHARE_PARTITION_MONTHS_AHEAD = 3
    with time_machine.travel(dt.datetime(2031, 11, 30, 23, 59, tzinfo=SHANGHAI), tick=False):
        created = partitions_ensure().created
        assert "sharing_lookupentry_p203111" in created and "sharing_lookupentry_p203202" in created
        assert "sharing_lookupentry_p203203" not in created
        assert partitions_ensure().created == []  # a second run finds everything there
    with time_machine.travel(dt.datetime(2031, 12, 1, 0, 0, tzinfo=SHANGHAI), tick=False):
        assert partitions_ensure().created == [f"{table}_p203203" for table in TABLES]
        horizon = {h.table: h for h in partitions_horizon()}
        assert all(horizon[table].last_month == dt.date(2032, 3, 1) for table in TABLES)
        assert all(horizon[table].default_rows == 0 for table in TABLES)


def test_rows_land_in_their_month_on_either_side_of_midnight_in_china(member_a, key_v1):
    partitions_ensure(today=dt.date(2031, 1, 1))
    with time_machine.travel(dt.datetime(2031, 1, 31, 23, 59, 59, tzinfo=SHANGHAI), tick=False):
        january = lookup(member_a, [new_token()]).json()["id"]
    with time_machine.travel(dt.datetime(2031, 2, 1, 0, 0, 0, tzinfo=SHANGHAI), tick=False):
        february = lookup(member_a, [new_token()]).json()["id"]
    assert partition_of("sharing_lookup", "id", january) == "sharing_lookup_p203101"
    assert partition_of("sharing_lookup", "id", february) == "sharing_lookup_p203102"
    assert partition_of("sharing_lookupentry", "lookup_id", february) == "sharing_lookupentry_p203102"


def test_a_row_outside_every_month_is_kept_reported_and_moved_into_its_month(member_a, key_v1, caplog):
    with time_machine.travel(dt.datetime(2040, 6, 15, 12, tzinfo=SHANGHAI), tick=False):
        far = lookup(member_a, [new_token(), new_token()]).json()["id"]
        event = audit_event_record(actor=Actor.system("tests"), action="test.far")
    assert partition_of("sharing_lookup", "id", far) == "sharing_lookup_default"
    assert {h.table: h.default_rows for h in partitions_horizon()}["sharing_lookupentry"] == 2

    result = partitions_ensure()

    assert result.strays["sharing_lookupentry"] == 2 and "sharing_lookupentry_p204006" in result.created
    assert "had no monthly partition" in caplog.text
    assert partition_of("sharing_lookup", "id", far) == "sharing_lookup_p204006"
    assert partition_of("sharing_lookupentry", "lookup_id", far) == "sharing_lookupentry_p204006"
    assert partition_of("members_auditevent", "id", event.pk) == "members_auditevent_p204006"
    assert Lookup.objects.filter(pk=far).exists() and LookupEntry.objects.filter(lookup_id=far).count() == 2
    assert AuditEvent.objects.filter(pk=event.pk).exists()
    assert all(h.default_rows == 0 for h in partitions_horizon())


def _partitions_in_plan(plan) -> set[str]:
    found = set()
    if isinstance(plan, dict):
        name = plan.get("Relation Name", "")
        if name.startswith("sharing_lookupentry"):
            found.add(name)
        for value in plan.values():
            found |= _partitions_in_plan(value)
    elif isinstance(plan, list):
        for value in plan:
            found |= _partitions_in_plan(value)
    return found


@pytest.mark.parametrize("tokens", [1, 3])  # one token is named as a value, a slice cut from one buffer
@pytest.mark.parametrize("day", [dt.date(2031, 3, 1), dt.date(2031, 4, 30), dt.date(2031, 5, 31)])
def test_the_90_day_inquiry_count_probes_at_most_four_months(db, day, tokens):
    from sharing.lookups.services import _read_statement

    partitions_ensure(today=day, months_back=13)  # a year of history, the months ahead, the default partition
    now = dt.datetime.combine(day, dt.time(12), tzinfo=SHANGHAI)
    sql, params = _read_statement(bytes(32) * tokens, member_id=1, now=now)
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (FORMAT JSON) " + sql, params)
        plan = cursor.fetchone()[0]
    scanned = _partitions_in_plan(json.loads(plan) if isinstance(plan, str) else plan)
    assert 3 <= len(scanned) <= 4, scanned
    assert "sharing_lookupentry_default" not in scanned


def _relkind(table: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT relkind FROM pg_class WHERE relname = %s", [table])
        return cursor.fetchone()[0]


def _counts() -> dict[str, int]:
    counts = {}
    with connection.cursor() as cursor:
        for table in TABLES:
            cursor.execute(f"SELECT count(*) FROM {table}")  # noqa: S608
            counts[table] = cursor.fetchone()[0]
    return counts


@pytest.mark.django_db(transaction=True)
def test_the_migrations_move_every_row_into_the_partitions_and_back(member_a):
    from django.db.migrations.executor import MigrationExecutor

    from members.audit import audit_chain_verify

    plain = [("members", "0008_history_hold"), ("sharing", "0031_monitoring_event_types_relief_and_identity")]
    partitioned = [
        ("members", "0010_audit_events_partitioned_by_month"),
        ("sharing", "0032_lookup_log_partitioned_by_month"),
    ]
    executor = MigrationExecutor(connection)
    latest = executor.loader.graph.leaf_nodes()
    assert AuditEvent.objects.filter(hash__isnull=True).exists()  # the member's events, not chained yet
    try:
        executor.migrate(plain)  # backwards: the waiting events are chained, the partitions become one table
        assert {_relkind(table) for table in TABLES} == {"r"}
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM members_auditevent WHERE hash IS NULL")
            assert cursor.fetchone()[0] == 0
            # A log written before partitioning: three months, each table non-empty.
            for n, moment in enumerate(
                [dt.datetime(2025, 3, 5, tzinfo=SHANGHAI), dt.datetime(2026, 10, 31, 23, 30, tzinfo=SHANGHAI)]
            ):
                lookup_id = 900 + n
                cursor.execute(
                    "INSERT INTO sharing_lookup (id, member_id, credential_id, purpose, consent_reference, key_version,"
                    " identifiers, hits, answer, created_at) VALUES (%s, %s, %s, 'fraud_investigation', '', 1, 2, 0,"
                    " '\\x00', %s)",
                    [lookup_id, member_a.institution.pk, member_a.credential.pk, moment],
                )
                cursor.execute(
                    "INSERT INTO sharing_lookupentry (lookup_id, position, member_id, token, hit, multi_lending,"
                    " created_at) SELECT %s, p, %s, sha256(int4send(p)), false, false, %s FROM generate_series(0, 1) p",
                    [lookup_id, member_a.institution.pk, moment],
                )
        executor = MigrationExecutor(connection)

        before = _counts()
        assert all(before.values())

        executor.migrate(partitioned)

        assert {_relkind(table) for table in TABLES} == {"p"}
        assert _counts() == before
        assert partition_of("sharing_lookup", "id", 900) == "sharing_lookup_p202503"
        assert partition_of("sharing_lookupentry", "lookup_id", 901) == "sharing_lookupentry_p202610"
        assert audit_chain_verify(full=True).ok
        # The ids go on counting from where they were.
        with connection.cursor() as cursor:
            cursor.execute("SELECT nextval(pg_get_serial_sequence('sharing_lookup', 'id'))")
            assert cursor.fetchone()[0] > 901

        executor = MigrationExecutor(connection)
        executor.migrate(plain)
        assert {_relkind(table) for table in TABLES} == {"r"}
        assert _counts() == before
    finally:
        MigrationExecutor(connection).migrate(latest)
    assert {_relkind(table) for table in TABLES} == {"p"}
