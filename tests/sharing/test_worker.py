"""The matching jobs through a real Celery worker on Redis, including a worker killed mid-batch."""

from __future__ import annotations

import pytest

from sharing.models import Batch, ConsortiumKey, TokenSummary
from sharing.records.matching import dirty_tokens_pending, summaries_drift_check
from sharing.records.tasks import batches_sweep
from sharing.tokens.pepper import pepper_token
from tests.sharing.conftest import new_token, overdue, submit
from tests.worker import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def key_v1_committed(transactional_db):
    return ConsortiumKey.objects.create(version=1, check_value="0" * 16, created_by="tests")


def test_batch_is_matched_by_the_worker(celery_worker, member_a, key_v1_committed):
    token = new_token()
    batch_id = submit(member_a, [overdue([token]), overdue([token], event_date="2025-01-02")]).json()["id"]
    wait_for(lambda: Batch.objects.get(pk=batch_id).status == "done", message="batch done")
    summary = TokenSummary.objects.get(token=pepper_token(token))
    assert summary.active_delinquencies == 2
    assert summary.member_ids == [member_a.institution.pk]


@pytest.mark.worker_env(RISKSHARE_MATCH_CHUNK="25")
def test_worker_killed_mid_batch_loses_nothing_and_counts_nothing_twice(celery_worker, member_a, key_v1_committed):
    # Matched a dozen records per committed chunk, so there is a middle to kill the worker in.
    batches, per_batch = 8, 1_500
    tokens = [new_token() for _ in range(batches * per_batch)]
    celery_worker.kill()  # queue the messages first, so the kill lands inside the work
    batch_ids = []
    for start in range(0, len(tokens), per_batch):
        records = [
            overdue([token], reference=f"K-{start + i}", overdue_days=10)
            for i, token in enumerate(tokens[start : start + per_batch])
        ]
        batch_ids.append(submit(member_a, records).json()["id"])

    def done() -> int:
        return Batch.objects.filter(pk__in=batch_ids, status="done").count()

    celery_worker.start()
    wait_for(lambda: done() >= 1, interval=0.01, message="matching under way")
    celery_worker.kill()
    assert done() < batches, "the worker finished before it could be killed; make the batches larger"
    assert TokenSummary.objects.count() < len(tokens)

    celery_worker.start()
    from django.test import override_settings

    with override_settings(RISKSHARE_BATCH_STALE_AFTER=0):
        batches_sweep.apply()  # the database, not the broker, says what is unfinished
    # On a Citus cluster every chunk's refresh costs ~0.1-0.5 s whatever its size (docs/performance.md): 8 batches
    # of 60 chunks take minutes there on a loaded machine.
    wait_for(lambda: done() == batches, timeout=420, message="all batches done after restart")
    assert dirty_tokens_pending() == 0
    # Every record matched exactly once: one delinquency per token, no double counting.
    assert TokenSummary.objects.count() == len(tokens)
    assert set(TokenSummary.objects.values_list("active_delinquencies", flat=True)) == {1}
    assert summaries_drift_check(fix=False).drift == 0
