"""Histories that never fork: after a restore to an earlier point the platform neither signs a checkpoint that
does not extend the last one published nor continues the audit chain from an older head.

A restore is played by a savepoint: the database goes back to it, the history witness (a file outside the
database, RISKSHARE_HISTORY_WITNESS) keeps what was recorded after it. tests/deploy/test_recovery.py does the
same with real pgBackRest restores.
"""

from __future__ import annotations

import json

import pytest
from django.core.management import CommandError, call_command
from django.db import transaction
from rest_framework.test import APIClient

from core.witness import witness_read, witness_update
from members.audit import audit_chain_verify
from members.models import AuditEvent, HistoryHold
from members.tasks import audit_chain_sequence_task
from sharing.models import LogCheckpoint
from sharing.tlog import tasks
from sharing.tlog.history import HistoryForked
from sharing.tlog.services import log_sequence
from tests.sharing.conftest import blacklist, submit
from tests.sharing.desk.test_observability import METRICS_TOKEN, metric


@pytest.fixture
def witness(settings, tmp_path, key_v1):
    settings.RISKSHARE_HISTORY_WITNESS = str(tmp_path / "backups" / "riskshare-history.json")
    return tmp_path / "backups" / "riskshare-history.json"


def published(member) -> int:
    """A batch accepted, its audit event chained and a checkpoint of it signed and recorded, as the beat's two
    sequencers do."""
    assert submit(member, [blacklist(), blacklist()]).status_code == 202
    audit_chain_sequence_task()
    result = tasks.log_sequence()
    assert result.get("checkpoint"), result
    return result["checkpoint"]


def restored_to_before(member) -> dict:
    """More is published after a point, then the database goes back to that point: the witness stays."""
    point = transaction.savepoint()
    published(member)
    recorded = witness_read()
    transaction.savepoint_rollback(point)
    return recorded


def only(section: str) -> None:
    """Keep one history's recorded head, to look at the other's refusal alone."""
    witness_update("audit" if section == "log" else "log", lambda current: {})


def test_each_run_records_the_newest_checkpoint_and_audit_head_outside_the_database(member_a, witness):
    size = published(member_a)
    recorded = json.loads(witness.read_text())
    newest = LogCheckpoint.objects.order_by("-size").first()
    assert recorded["log"]["size"] == size == newest.size
    assert recorded["audit"]["seq"] == AuditEvent.objects.filter(seq__isnull=False).order_by("-seq").first().seq
    second = published(member_a)
    assert witness_read()["log"]["size"] == second > size  # moves forward with the log
    call_command("history_check")
    assert not HistoryHold.objects.exists()


def test_after_a_restore_to_before_the_last_checkpoint_the_log_is_not_signed_again(member_a, witness, settings):
    published(member_a)
    recorded = restored_to_before(member_a)
    only("log")
    # Members send their batches again: new leaves where the lost ones were, not the same ones.
    assert submit(member_a, [blacklist(), blacklist(), blacklist()]).status_code == 202
    with pytest.raises(HistoryForked, match="recorded outside the database"):
        log_sequence()
    assert LogCheckpoint.objects.order_by("-size").first().size < recorded["log"]["size"]

    assert tasks.log_sequence() == {"held": [HistoryHold.Kind.VERIFIABLE_LOG]}
    assert LogCheckpoint.objects.filter(size__gte=recorded["log"]["size"]).count() == 0
    settings.RISKSHARE_METRICS_TOKEN = METRICS_TOKEN
    text = APIClient().get("/metrics", HTTP_AUTHORIZATION=f"Bearer {METRICS_TOKEN}").content.decode()
    assert metric(text, "riskshare_history_held", history="verifiable_log") == 1
    assert metric(text, "riskshare_history_held", history="audit_chain") == 0
    with pytest.raises(CommandError, match="第二份历史"):
        call_command("history_reconcile", reason="drill")
    assert HistoryHold.objects.get().released_at is None


def test_after_a_restore_the_audit_chain_refuses_to_continue_until_an_operator_reconciles(member_a, witness):
    published(member_a)
    recorded = restored_to_before(member_a)
    only("audit")
    head_before = AuditEvent.objects.filter(seq__isnull=False).order_by("-seq").first().seq
    assert head_before < recorded["audit"]["seq"]

    with pytest.raises(CommandError, match="audit_chain"):
        call_command("history_check")
    # Every audited change and read now refuses, with a code the client can act on.
    with transaction.atomic():  # the request's own transaction, as in production
        answer = member_a.client().get("/api/v1/log/checkpoint")
    assert answer.status_code == 503 and answer.json()["code"] == "history_held"
    assert AuditEvent.objects.filter(seq__isnull=False).order_by("-seq").first().seq == head_before

    with pytest.raises(CommandError, match="accept-audit-loss"):
        call_command("history_reconcile", reason="restored to 10:00 after the disk loss")
    call_command("history_reconcile", reason="restored to 10:00 after the disk loss", accept_audit_loss=True)
    event = AuditEvent.objects.filter(seq__isnull=False).order_by("-seq").first()
    assert event.action == "history.reconciled"
    assert event.payload["recorded"]["audit"] == recorded["audit"]  # the lost head, named in the chain itself
    assert witness_read()["audit"]["seq"] == event.seq
    assert audit_chain_verify().ok
    assert member_a.client().get("/api/v1/log/checkpoint").status_code == 200
    call_command("history_check")


def test_without_a_witness_nothing_is_checked_or_held(member_a, settings, key_v1):
    settings.RISKSHARE_HISTORY_WITNESS = ""
    published(member_a)
    restored_to_before(member_a)
    published(member_a)
    assert not HistoryHold.objects.exists()
