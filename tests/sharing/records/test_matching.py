"""Matching: per-token summaries, deduplication, exactly-once effects, drift detection."""

from __future__ import annotations

import random
from decimal import Decimal

import pytest
from django.db import connection, transaction

from sharing.models import Batch, TokenSummary
from sharing.records.matching import (
    _matching_lock,
    batch_match,
    dirty_tokens_drain,
    dirty_tokens_pending,
    summaries_drift_check,
)
from sharing.records.services import batch_process, batches_stale
from sharing.tokens.pepper import pepper_token
from tests.conftest import issue
from tests.factories import InstitutionFactory
from tests.sharing.conftest import blacklist, days_ago, loan, new_token, overdue, submit


def summary(token: str) -> TokenSummary | None:
    return TokenSummary.objects.filter(token=pepper_token(token)).first()


def submit_and_match(member, records, **kwargs):
    response = submit(member, records, **kwargs)
    assert response.status_code == 202, response.content
    batch_id = response.json()["id"]
    assert batch_process(batch_id=batch_id) is True
    return batch_id


def test_accepting_a_batch_enqueues_its_job_after_commit(member_a, key_v1, django_capture_on_commit_callbacks):
    token = new_token()
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        batch_id = submit(member_a, [blacklist([token])]).json()["id"]
    assert len(callbacks) == 2  # the job, and the release of the Idempotency-Key's lock
    # Without a broker the job ran in-process on commit.
    assert Batch.objects.get(pk=batch_id).status == "done"
    assert summary(token).member_ids == [member_a.institution.pk]


def test_summary_counts_distinct_members_and_facts(member_a, member_b, key_v1):
    token = new_token()
    submit_and_match(
        member_a,
        [blacklist([token], category="fraud_ring"), overdue([token], overdue_days=30, overdue_amount="100.00")],
    )
    submit_and_match(member_b, [overdue([token], overdue_days=90, overdue_amount="50.25", event_date="2025-08-01")])
    s = summary(token)
    assert sorted(s.member_ids) == sorted([member_a.institution.pk, member_b.institution.pk])
    assert s.blacklist_categories == ["fraud_ring"]
    assert (s.active_delinquencies, s.max_overdue_days, s.total_overdue_amount) == (2, 90, Decimal("150.25"))
    assert str(s.latest_delinquency_date) == "2025-08-01"


def test_same_fact_twice_within_a_member_counts_once(member_a, member_b, key_v1):
    token = new_token()
    fact = {"event_date": "2025-05-05", "overdue_days": 30, "overdue_amount": "100.00"}
    submit_and_match(member_a, [overdue([token], **fact), overdue([token], **fact)])
    assert summary(token).active_delinquencies == 1
    assert summary(token).total_overdue_amount == Decimal("100.00")
    # The same facts from another member are another member's fact.
    submit_and_match(member_b, [overdue([token], **fact)])
    assert summary(token).active_delinquencies == 2


def test_resolve_and_retract_update_the_summary_at_once(member_a, key_v1):
    token = new_token()
    submit_and_match(member_a, [overdue([token], reference="L1"), blacklist([token], reference="B1")])
    client = member_a.client()
    client.post("/api/v1/records/L1/resolve", {"resolved_date": days_ago(0)}, format="json")
    assert summary(token).active_delinquencies == 0
    assert summary(token).blacklist_categories == ["identity_fraud"]
    client.post("/api/v1/records/B1/retract", {"reason": "error"}, format="json")
    assert summary(token) is None


def test_updating_identifiers_moves_the_record_between_summaries(member_a, key_v1):
    old, new = new_token(), new_token()
    record = blacklist([old], reference="MOVE")
    submit_and_match(member_a, [record])
    submit_and_match(member_a, [{**record, "identifiers": [{"type": "cn_resident_id", "token": new}]}])
    assert summary(old) is None
    assert summary(new) is not None


def test_processing_twice_changes_nothing(member_a, key_v1):
    token = new_token()
    batch_id = submit_and_match(member_a, [overdue([token])])
    before = TokenSummary.objects.values().get()
    assert batch_process(batch_id=batch_id) is False  # already done
    Batch.objects.filter(pk=batch_id).update(status="processing")  # a redelivered message
    assert batch_process(batch_id=batch_id) is True
    after = TokenSummary.objects.values().get()
    assert {k: v for k, v in after.items() if k != "updated_at"} == {
        k: v for k, v in before.items() if k != "updated_at"
    }


def test_a_batch_is_matched_in_committed_chunks(member_a, key_v1):
    tokens = [new_token() for _ in range(30)]
    batch_id = submit(member_a, [blacklist([t]) for t in tokens]).json()["id"]
    assert dirty_tokens_pending() == 0  # the request queues nothing: the job finds the batch's records
    assert batch_match(batch_id, chunk_tokens=2) == 30
    assert TokenSummary.objects.count() == 30
    assert summaries_drift_check(fix=False).drift == 0


def test_tokens_taken_away_by_an_update_are_queued_and_drained(member_a, key_v1):
    old = [new_token() for _ in range(12)]
    records = [blacklist([t], reference=f"U-{i}") for i, t in enumerate(old)]
    submit_and_match(member_a, records)
    submit(member_a, [{**r, "identifiers": [{"type": "cn_mobile", "token": new_token()}]} for r in records])
    assert dirty_tokens_pending() == 12
    # One chunk, then the worker "dies": the rest stays queued.
    assert dirty_tokens_drain(chunk=5, max_chunks=1) == 5
    assert dirty_tokens_pending() == 7
    assert dirty_tokens_drain(chunk=5) == 7
    assert all(summary(t) is None for t in old)


def test_sweep_picks_up_stale_batches(member_a, key_v1, settings):
    settings.RISKSHARE_BATCH_STALE_AFTER = 0
    batch_id = submit(member_a, [blacklist()]).json()["id"]
    assert batches_stale() == [batch_id]
    from sharing.records.tasks import batches_sweep

    batches_sweep.apply()
    assert Batch.objects.get(pk=batch_id).status == "done"


@pytest.mark.parametrize("seed", [42, 7, 1337])
def test_random_mix_leaves_no_drift(member_a, member_b, key_v1, seed):
    rng = random.Random(seed)
    members = [member_a, member_b, issue(InstitutionFactory())]
    pool = [new_token() for _ in range(25)]
    live: dict[int, list[str]] = {i: [] for i in range(len(members))}
    for step in range(40):
        who = rng.randrange(len(members))
        member = members[who]
        action = rng.random()
        if action < 0.55 or not live[who]:
            records = []
            for _ in range(rng.randrange(1, 6)):
                reference = f"M{who}-{rng.randrange(15)}"
                if reference in {r["reference"] for r in records}:
                    continue
                tokens = rng.sample(pool, rng.randrange(1, 3))
                maker = rng.choice([blacklist, overdue, loan])
                fields = {"reference": reference}
                if maker is loan:
                    fields.update(
                        outstanding_balance=f"{rng.randrange(0, 99999)}.{rng.randrange(100):02d}",
                        event_date=rng.choice(["2025-01-01", "2025-02-01"]),
                    )
                if maker is overdue:
                    fields.update(
                        overdue_days=rng.randrange(1, 200),
                        overdue_amount=f"{rng.randrange(1, 9999)}.{rng.randrange(100):02d}",
                        event_date=rng.choice(["2025-01-01", "2025-02-01"]),
                    )
                records.append(maker(tokens, **fields))
            submit(member, records)
            live[who] += [r["reference"] for r in records]
        elif action < 0.8:
            member.client().post(
                f"/api/v1/records/{rng.choice(live[who])}/resolve", {"resolved_date": days_ago(0)}, format="json"
            )
        else:
            member.client().post(
                f"/api/v1/records/{rng.choice(live[who])}/retract", {"reason": f"step {step}"}, format="json"
            )
        if rng.random() < 0.3:
            pending = list(Batch.objects.exclude(status="done").values_list("pk", flat=True))
            if pending:
                batch_process(batch_id=rng.choice(pending))
            dirty_tokens_drain(chunk=rng.randrange(1, 20))
    for batch_id in Batch.objects.exclude(status="done").order_by("?").values_list("pk", flat=True):
        batch_process(batch_id=batch_id)
    report = summaries_drift_check(fix=False)
    assert report.checked > 0
    assert report.drift == 0, report


def test_a_record_changed_before_its_batch_is_matched_counts_as_it_is_now(member_a, key_v1):
    resolved, moved, kept, elsewhere = (new_token() for _ in range(4))
    batch_id = submit(
        member_a,
        [overdue([resolved], reference="R"), blacklist([moved], reference="M"), blacklist([kept], reference="K")],
    ).json()["id"]
    client = member_a.client()
    assert client.post("/api/v1/records/R/resolve", {"resolved_date": days_ago(0)}, format="json").status_code == 200
    # A later batch moves M to another token: M now carries that batch's id, and the later job covers it.
    later = submit(member_a, [blacklist([elsewhere], reference="M")]).json()["id"]
    assert batch_match(batch_id) == 2  # R and K: M is the later batch's now
    assert summary(resolved) is None
    assert summary(moved) is None
    assert summary(kept) is not None
    assert summary(elsewhere) is None  # not matched yet
    batch_match(later)
    dirty_tokens_drain()
    assert summary(elsewhere) is not None
    assert summaries_drift_check(fix=False).drift == 0


def test_drift_is_detected_and_fixed(member_a, key_v1):
    tokens = [new_token() for _ in range(3)]
    submit_and_match(member_a, [overdue([t]) for t in tokens])
    TokenSummary.objects.filter(token=pepper_token(tokens[0])).update(active_delinquencies=7)
    TokenSummary.objects.filter(token=pepper_token(tokens[1])).delete()
    TokenSummary.objects.create(
        token=pepper_token(new_token()),
        member_ids=[1],
        blacklist_categories=[],
        active_delinquencies=0,
        max_overdue_days=0,
        total_overdue_amount=0,
        first_reported="2025-01-01T00:00Z",
        last_reported="2025-01-01T00:00Z",
        updated_at="2025-01-01T00:00Z",
    )
    report = summaries_drift_check(fix=True)
    assert (report.stale, report.missing, report.orphaned) == (1, 1, 1)
    assert summaries_drift_check(fix=False).drift == 0


def test_nightly_verification_is_audited(member_a, key_v1):
    from members.models import AuditEvent
    from sharing.records.tasks import summaries_verify

    submit_and_match(member_a, [blacklist()])
    assert summaries_verify.apply().get() == {"checked": 1, "drift": 0}
    assert AuditEvent.objects.filter(action="summaries.verified").count() == 1


@pytest.mark.django_db(transaction=True)
def test_matching_settings_last_only_for_its_own_transaction():
    def setting(name: str) -> str:
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_setting(%s)", [name])
            return cursor.fetchone()[0]

    before = (setting("jit"), setting("work_mem"))
    with transaction.atomic():
        _matching_lock()
        assert (setting("jit"), setting("work_mem")) == ("off", "64MB")
    assert (setting("jit"), setting("work_mem")) == before  # the connection goes back to the pool unchanged


@pytest.mark.django_db(transaction=True)
def test_recomputation_locks_only_the_range_of_its_tokens():
    """A job holding one range of tokens does not hold up work on another range; work on its own waits."""
    import threading

    from django.db import OperationalError, connections

    from sharing.records.matching import MATCHING_RANGES, summaries_refresh, token_range

    held, release = threading.Event(), threading.Event()
    in_range_0 = bytes([256 // MATCHING_RANGES - 1]) + bytes(31)  # the last token of the first range
    in_range_1 = bytes([256 // MATCHING_RANGES]) + bytes(31)
    assert (token_range(in_range_0), token_range(in_range_1)) == (0, 1)

    def job_on_range_0():
        try:
            with transaction.atomic():
                _matching_lock([0])
                held.set()
                release.wait(timeout=10)
        finally:
            connections.close_all()

    holder = threading.Thread(target=job_on_range_0)
    holder.start()
    try:
        assert held.wait(timeout=10)
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL lock_timeout = '300ms'")
            summaries_refresh([in_range_1])  # another range: goes ahead
        with pytest.raises(OperationalError, match="lock timeout"), transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL lock_timeout = '300ms'")
            summaries_refresh([in_range_1, in_range_0])  # needs range 0 too: waits for the job
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '300ms'")
        try:
            assert dirty_tokens_drain() == 0  # nothing queued: it takes no lock, so it does not wait
        finally:
            with connection.cursor() as cursor:
                cursor.execute("RESET lock_timeout")
    finally:
        release.set()
        holder.join(timeout=10)


def test_token_ranges_agree_in_python_and_in_sql(db):
    """A batch's job locks the range SQL grouped its tokens by; everyone else locks token_range's."""
    from core.sql import execute_binary
    from sharing.records.matching import _TOKEN_RANGE_SQL, MATCHING_RANGES, token_range

    rows = execute_binary(
        f"SELECT get_byte(token, 0), {_TOKEN_RANGE_SQL} "  # noqa: S608 - a fixed fragment
        "FROM (SELECT set_byte(decode(repeat('00', 32), 'hex'), 0, b) AS token FROM generate_series(0, 255) b) t",
        {"ranges": MATCHING_RANGES},
        fetch=True,
    )
    assert len(rows) == 256
    assert all(sql_range == token_range(bytes([first]) + bytes(31)) for first, sql_range in rows)
    assert {sql_range for _first, sql_range in rows} == set(range(MATCHING_RANGES))
