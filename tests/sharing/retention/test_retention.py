"""Retention: purges on the exact boundary days, with a frozen clock, leap days included."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.db import DatabaseError, connection, transaction
from django.utils import translation

from core.partitions import partition_months
from members.models import AuditEvent
from sharing.models import (
    Dispute,
    DisputedRecord,
    Lookup,
    LookupEntry,
    Record,
    RecordIdentifier,
    TokenSummary,
)
from sharing.retention.selectors import retention_cutoff
from sharing.retention.tasks import retention_purge_task
from sharing.tokens.pepper import pepper_token
from tests.sharing.conftest import blacklist, lookup, new_token, overdue, reported


def at(day: dt.date, hour: int = 10):
    """Freeze the clock at ``hour`` o'clock on ``day`` in Asia/Shanghai."""
    shanghai = dt.timezone(dt.timedelta(hours=8))
    return time_machine.travel(dt.datetime(day.year, day.month, day.day, hour, tzinfo=shanghai), tick=False)


def purge_on(day: dt.date) -> dict:
    assert Record.objects.exists() or Lookup.objects.exists(), "nothing was written to purge"
    with at(day):
        return retention_purge_task()


def references() -> set[str]:
    return set(Record.objects.values_list("reference", flat=True))


@pytest.mark.parametrize(
    ("today", "cutoff"),
    [
        (dt.date(2026, 3, 10), dt.date(2021, 3, 10)),
        (dt.date(2025, 2, 28), dt.date(2020, 2, 28)),  # 2020-02-29's fifth anniversary is 2025-03-01
        (dt.date(2025, 3, 1), dt.date(2020, 3, 1)),
        (dt.date(2028, 2, 29), dt.date(2023, 2, 28)),  # today is a leap day, five years back has none
        (dt.date(2028, 3, 1), dt.date(2023, 3, 1)),
    ],
)
def test_retention_cutoff(today, cutoff):
    assert retention_cutoff(today, 5) == cutoff


@pytest.mark.parametrize(
    ("today", "purged"),
    [(dt.date(2026, 3, 9), False), (dt.date(2026, 3, 10), True), (dt.date(2026, 3, 11), True)],
    ids=["day-before", "day-of", "day-after"],
)
def test_resolved_delinquency_is_purged_five_years_after_it_was_resolved(member_a, key_v1, today, purged):
    with at(dt.date(2021, 4, 1)):
        reported(member_a, [overdue(reference="D", event_date="2020-01-15", resolved_date="2021-03-10")])
        reported(member_a, [overdue(reference="OPEN", event_date="2015-01-15")])  # never resolved: never purged

    purge_on(today)

    assert references() == ({"OPEN"} if purged else {"D", "OPEN"})


@pytest.mark.parametrize(
    ("today", "purged"),
    [(dt.date(2025, 2, 28), False), (dt.date(2025, 3, 1), True), (dt.date(2025, 3, 2), True)],
    ids=["day-before", "day-of", "day-after"],
)
def test_blacklist_from_a_leap_day_is_purged_on_1_march_five_years_on(member_a, key_v1, today, purged):
    with at(dt.date(2020, 3, 5)):
        reported(member_a, [blacklist(reference="LEAP", event_date="2020-02-29")])

    purge_on(today)

    assert references() == (set() if purged else {"LEAP"})


def test_blacklist_with_a_resolved_date_counts_from_that_date(member_a, key_v1):
    with at(dt.date(2022, 6, 1)):
        reported(member_a, [blacklist(reference="B", event_date="2019-05-01", resolved_date="2022-05-20")])
    purge_on(dt.date(2027, 5, 19))
    assert references() == {"B"}
    purge_on(dt.date(2027, 5, 20))
    assert references() == set()


@pytest.mark.parametrize(
    ("days_after", "purged"), [(89, False), (90, True), (91, True)], ids=["day-before", "day-of", "day-after"]
)
def test_retracted_records_are_purged_90_days_after_retraction(member_a, key_v1, days_after, purged):
    retracted_on = dt.date(2024, 2, 1)  # 2024 is a leap year: the 90 days include 29 February
    with at(retracted_on, hour=23):  # late in the day in Shanghai, still 2024-02-01 there
        reported(member_a, [blacklist(reference="R", event_date="2023-06-01")])
        response = member_a.client().post("/api/v1/records/R/retract", {"reason": "Sent in error."}, format="json")
        assert response.status_code == 200, response.content

    purge_on(retracted_on + dt.timedelta(days=days_after))

    assert references() == (set() if purged else {"R"})


def test_a_purge_removes_everything_of_the_record_and_leaves_a_count_only_tombstone(member_a, member_b, key_v1):
    shared, alone = new_token(), new_token()
    with at(dt.date(2020, 6, 1)):
        reported(member_a, [overdue([shared, alone], reference="OLD", event_date="2020-01-01")])
        # Updated once (history row), then resolved; disputed in between by member_b.
        reported(member_a, [overdue([shared, alone], reference="OLD", event_date="2020-01-01", overdue_days=75)])
    with at(dt.date(2020, 7, 1)):
        body = {"identifiers": [{"type": "cn_mobile", "token": alone}], "key_version": 1, "reason": "Not mine."}
        member_b.client().post("/api/v1/disputes", body, format="json")
        member_a.client().post("/api/v1/records/OLD/resolve", {"resolved_date": "2020-07-01"}, format="json")
    with at(dt.date(2021, 4, 1)):
        reported(member_b, [blacklist([shared], reference="KEEP", event_date="2021-03-01")])
    old = Record.objects.get(reference="OLD")
    assert old.events.exists() and DisputedRecord.objects.filter(record_id=old.pk).exists()
    assert TokenSummary.objects.filter(token=pepper_token(shared)).exists()

    purge_on(dt.date(2025, 7, 1))

    assert references() == {"KEEP"}
    assert not Record.objects.filter(pk=old.pk).exists()
    assert not RecordIdentifier.objects.filter(record_id=old.pk).exists()
    assert not old.events.exists()
    # The dispute stays, and so does its link (ids only) for the reporting member's self-inspection.
    assert Dispute.objects.count() == 1 and DisputedRecord.objects.filter(record_id=old.pk).exists()
    tombstones = AuditEvent.objects.filter(action="retention.records_purged")
    assert tombstones.count() == 1
    payload = tombstones.get().payload
    assert payload["by_member"][str(member_a.institution.pk)] == 1
    assert "OLD" not in str(payload) and shared not in str(payload)


def test_a_purge_updates_the_summaries_the_record_contributed_to(member_a, member_b, key_v1):
    token = new_token()
    with at(dt.date(2020, 6, 1)):
        reported(member_a, [overdue([token], reference="OLD", event_date="2020-01-01", resolved_date="2020-05-01")])
        reported(member_b, [overdue([token], reference="NEW", event_date="2020-02-01")])
    assert TokenSummary.objects.get(token=pepper_token(token)).member_ids == [member_b.institution.pk]

    purge_on(dt.date(2025, 5, 1))

    assert references() == {"NEW"}
    summary = TokenSummary.objects.get(token=pepper_token(token))
    assert summary.member_ids == [member_b.institution.pk] and summary.active_delinquencies == 1


@pytest.mark.parametrize(
    ("today", "purged"),
    [(dt.date(2026, 5, 30), False), (dt.date(2026, 5, 31), True), (dt.date(2026, 6, 1), True)],
    ids=["day-before", "day-of", "day-after"],
)
def test_lookup_logs_go_a_whole_month_at_a_time_after_their_retention_period(member_a, key_v1, today, purged):
    # May 2021 is all past five years on 31 May 2026 (its last day, 31 May 2021, is the cutoff).
    with at(dt.date(2021, 5, 1), hour=0):
        old = lookup(member_a, [new_token(), new_token()]).json()["id"]
    with at(dt.date(2021, 5, 31), hour=23):
        also_old = lookup(member_a, [new_token()]).json()["id"]
    with at(dt.date(2021, 6, 1), hour=0):
        kept = lookup(member_a, [new_token()]).json()["id"]

    result = purge_on(today)

    assert set(Lookup.objects.values_list("pk", flat=True)) == ({kept} if purged else {old, also_old, kept})
    assert LookupEntry.objects.filter(lookup_id=old).exists() is not purged
    assert result["lookups"] == (2 if purged else 0)
    assert result["lookup_entries"] == (3 if purged else 0)
    months = partition_months("sharing_lookupentry")
    assert (dt.date(2021, 5, 1) in months) is not purged and dt.date(2021, 6, 1) in months
    if purged:
        tombstone = AuditEvent.objects.get(action="retention.lookups_purged").payload
        assert (tombstone["month"], tombstone["lookups"], tombstone["entries"]) == ("2021-05", 2, 3)
    # Nothing was deleted row by row from a month: its partitions went whole. (Rows written in 2021 found no
    # month and waited in the default partitions, whence the job moved them into months of their own.)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT n_tup_del FROM pg_stat_xact_user_tables "
            "WHERE relname LIKE 'sharing_lookup%%' AND relname NOT LIKE '%%default'"
        )
        assert all(deleted == 0 for (deleted,) in cursor.fetchall())


def test_the_lookup_log_stays_append_only_outside_the_retention_job(member_a, key_v1):
    lookup(member_a, [new_token()])
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM sharing_lookupentry")


def test_lookup_log_retention_is_a_setting(member_a, key_v1, settings):
    settings.RISKSHARE_LOOKUP_LOG_RETENTION_YEARS = 1
    with at(dt.date(2025, 1, 10)):
        lookup(member_a, [new_token()])
    purge_on(dt.date(2026, 1, 30))
    assert Lookup.objects.count() == 1
    purge_on(dt.date(2026, 1, 31))
    assert Lookup.objects.count() == 0


def test_records_past_retention_are_counted_until_purged(member_a, member_b, key_v1):
    from sharing.retention.selectors import records_past_retention

    with at(dt.date(2020, 6, 1)):
        reported(member_a, [blacklist(reference="OLD", event_date="2020-01-01")])
        reported(member_b, [blacklist(reference="NEW", event_date="2020-05-01")])
    members = [member_a.institution.pk, member_b.institution.pk]
    assert records_past_retention(member_ids=members, today=dt.date(2024, 12, 31)) == {}
    assert records_past_retention(member_ids=members, today=dt.date(2025, 1, 1)) == {member_a.institution.pk: 1}
    purge_on(dt.date(2025, 1, 1))
    assert records_past_retention(member_ids=members, today=dt.date(2025, 1, 1)) == {}


def test_the_retention_command_counts_first_and_then_purges(member_a, key_v1):
    from io import StringIO

    from django.core.management import call_command

    with at(dt.date(2019, 6, 1)):
        reported(member_a, [blacklist(reference="OLD", event_date="2019-01-01")])
        lookup(member_a, [new_token()])
    with at(dt.date(2026, 1, 1)), translation.override("en"):
        dry = StringIO()
        call_command("retention_purge", "--dry-run", stdout=dry)
        assert references() == {"OLD"} and Lookup.objects.count() == 1
        out = StringIO()
        call_command("retention_purge", stdout=out)
    assert references() == set() and Lookup.objects.count() == 0
    assert dry.getvalue().startswith("Would purge 1 record(s) and 1 lookup(s) on 2026-01-01.")
    assert out.getvalue().startswith("Purged 1 record(s) and 1 lookup(s) with 1 entries on 2026-01-01.")
    assert AuditEvent.objects.filter(action__startswith="retention.").count() == 2


def test_the_record_purge_reads_its_condition_through_indexes(db):
    from sharing.retention.selectors import RECORD_DUE_CONDITION

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(
            f"EXPLAIN SELECT id FROM sharing_record WHERE {RECORD_DUE_CONDITION}",  # noqa: S608
            {"adverse": dt.date(2021, 1, 1), "loans": dt.date(2021, 1, 1), "retracted_before": dt.datetime.now(dt.UTC)},
        )
        plan = "\n".join(line for (line,) in cursor.fetchall())
    assert "record_retracted_purge_idx" in plan and "record_ended_purge_idx" in plan, plan


def test_token_evaluation_counts_go_with_the_lookup_log_of_their_days(member_a, key_v1, settings):
    from sharing.evaluations.models import TokenEvaluationCount

    settings.RISKSHARE_LOOKUP_LOG_RETENTION_YEARS = 1
    lookup(member_a, [new_token()])  # today's: stays
    for day in (dt.date(2025, 1, 29), dt.date(2025, 1, 30), dt.date(2025, 1, 31)):
        TokenEvaluationCount.objects.create(
            member_id=member_a.institution.pk, id_type="cn_mobile", day=day, evaluated=7
        )
    assert purge_on(dt.date(2026, 1, 30))["evaluation_counts"] == 1
    days = set(TokenEvaluationCount.objects.values_list("day", flat=True))
    assert days == {dt.date(2025, 1, 30), dt.date(2025, 1, 31)}
    assert purge_on(dt.date(2026, 1, 31))["evaluation_counts"] == 1
    assert set(TokenEvaluationCount.objects.values_list("day", flat=True)) == {dt.date(2025, 1, 31)}
    [tombstone, _second] = AuditEvent.objects.filter(action="retention.evaluation_counts_purged").order_by("id")
    assert tombstone.payload == {"counts": 1, "days_before": "2025-01-30"}
    # Nothing left to purge: no tombstone.
    assert purge_on(dt.date(2026, 1, 31))["evaluation_counts"] == 0
    assert AuditEvent.objects.filter(action="retention.evaluation_counts_purged").count() == 2
