"""The hash-chained audit trail: appends without a shared lock, chained by the sequencer in order, refuses
rewrites, detects tampering, and verifies only what is new unless asked for the full walk."""

from __future__ import annotations

import datetime as dt
import itertools
import threading
from io import StringIO

import pgtrigger
import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.db import DatabaseError, transaction
from django.utils import timezone, translation

from members.audit import (
    GENESIS_HASH,
    Actor,
    audit_chain_sequence,
    audit_chain_verify,
    audit_event_record,
    audit_unchained,
    event_hash,
)
from members.models import AuditCheckpoint, AuditEvent
from members.tasks import audit_chain_sequence_task, audit_chain_verify_task

ACTOR = Actor.system("tests")


@pytest.fixture
def chain(db) -> list[AuditEvent]:
    appended = [audit_event_record(actor=ACTOR, action="test.event", payload={"n": n, "名": "值"}) for n in range(5)]
    assert all(event.seq is None for event in appended)
    assert audit_chain_sequence() == 5
    return list(AuditEvent.objects.filter(pk__in=[event.pk for event in appended]).order_by("seq"))


def verify(*args: str) -> str:
    out = StringIO()
    call_command("audit_verify", *args, stdout=out)
    return out.getvalue()


def test_chain_links_each_event_to_the_previous(chain):
    assert [event.seq for event in chain] == [1, 2, 3, 4, 5]
    assert chain[0].prev_hash == GENESIS_HASH
    assert all(later.prev_hash == earlier.hash for earlier, later in itertools.pairwise(chain))
    out = verify()
    assert " 5 " in out and chain[-1].hash in out


def test_the_database_hashes_exactly_the_canonical_document(db):
    """Appends hash in PostgreSQL; the verifier hashes in Python: both must see the same bytes."""
    payload = {"说明": '本人声明\n"引号" \\ 🙂', "amount": "12.50", "nested": {"b": [1, None, True], "a": 1.5}}
    event = audit_event_record(actor=Actor("operator", "7", "审核员 ü"), action="test.unicode", payload=payload)
    audit_chain_sequence()
    stored = AuditEvent.objects.get(pk=event.pk)
    expected = event_hash(
        seq=stored.seq,
        prev_hash=stored.prev_hash,
        occurred_at=stored.occurred_at,
        actor_type=stored.actor_type,
        actor_id=stored.actor_id,
        actor_label=stored.actor_label,
        action=stored.action,
        object_type=stored.object_type,
        object_id=stored.object_id,
        object_repr=stored.object_repr,
        payload=payload,
        institution_id=stored.institution_id,
    )
    assert stored.hash == expected
    assert stored.payload == payload and stored.occurred_at == event.occurred_at
    assert audit_chain_verify().ok


def test_application_cannot_update_or_delete(chain):
    with pytest.raises(DatabaseError, match=r"Cannot (update|delete)"), transaction.atomic():
        AuditEvent.objects.filter(seq=2).update(action="other")
    with pytest.raises(DatabaseError, match=r"Cannot (update|delete)"), transaction.atomic():
        AuditEvent.objects.filter(seq=2).update(seq=None, prev_hash=None, hash=None)
    with pytest.raises(DatabaseError, match=r"Cannot (update|delete)"), transaction.atomic():
        AuditEvent.objects.filter(seq=2).delete()
    # An unchained event: only its place in the chain may be filled in, nothing else about it changed.
    waiting = audit_event_record(actor=ACTOR, action="test.waiting")
    with pytest.raises(DatabaseError, match=r"Cannot (update|delete)"), transaction.atomic():
        AuditEvent.objects.filter(pk=waiting.pk).update(action="other")
    assert audit_chain_verify().ok


def test_edited_row_is_detected(chain):
    with pgtrigger.ignore("members.AuditEvent:append_only"):
        AuditEvent.objects.filter(seq=3).update(payload={"n": 99, "名": "值"})
    with pytest.raises(CommandError, match=r"\b3\b"):
        verify()


def test_edited_row_with_recomputed_hash_is_detected(chain):
    from members.audit import _stored_hash

    with pgtrigger.ignore("members.AuditEvent:append_only"):
        event = AuditEvent.objects.get(seq=3)
        event.actor_label = "someone else"
        AuditEvent.objects.filter(seq=3).update(actor_label=event.actor_label, hash=_stored_hash(event))
    result = audit_chain_verify()
    assert not result.ok and result.broken_seq == 4


def test_deleted_row_is_detected(chain):
    with pgtrigger.ignore("members.AuditEvent:append_only_delete"):
        AuditEvent.objects.filter(seq=2).delete()
    with pytest.raises(CommandError, match=r"\b2\b"):
        verify()


def test_reordered_rows_are_detected(chain):
    with pgtrigger.ignore("members.AuditEvent:append_only"):
        AuditEvent.objects.filter(seq=2).update(seq=-2)
        AuditEvent.objects.filter(seq=4).update(seq=2)
        AuditEvent.objects.filter(seq=-2).update(seq=4)
    result = audit_chain_verify()
    assert not result.ok and result.broken_seq == 2


def test_verification_is_itself_audited(chain):
    verify()
    event = AuditEvent.objects.order_by("-seq").first()
    assert event.action == "audit.verified" and event.payload["ok"] is True


def test_nightly_task_reports_a_broken_chain(chain):
    with pgtrigger.ignore("members.AuditEvent:append_only"):
        AuditEvent.objects.filter(seq=5).update(action="forged")
    # apply() runs the task body here, with or without a broker configured.
    result = audit_chain_verify_task.apply().get()
    assert result["ok"] is False and result["broken_seq"] == 5


@pytest.mark.django_db(transaction=True)
def test_concurrent_appends_keep_one_chain():
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connection

    def append(n: int) -> None:
        try:
            with transaction.atomic():
                audit_event_record(actor=ACTOR, action="test.concurrent", payload={"n": n})
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(append, range(40)))
    result = audit_chain_verify(full=True)
    assert result.ok and result.checked == 40


def test_an_inserted_row_is_detected(chain):
    copy = chain[2]
    with transaction.atomic(), pgtrigger.ignore("members.AuditEvent:append_only"):
        forged = AuditEvent.objects.create(
            **{f.attname: getattr(copy, f.attname) for f in AuditEvent._meta.concrete_fields if f.attname != "id"}
        )
    assert forged.seq == 3
    result = audit_chain_verify(full=True)
    assert not result.ok and result.broken_seq == 3 and "twice" in result.problem


def test_the_sequencer_chains_in_batches_in_the_order_events_were_appended(db):
    appended = [audit_event_record(actor=ACTOR, action="test.event", payload={"n": n}) for n in range(7)]
    assert audit_chain_sequence(limit=3, max_batches=1) == 3
    assert audit_unchained().events == 4
    assert audit_chain_sequence(limit=3) == 4
    assert list(AuditEvent.objects.order_by("seq").values_list("pk", flat=True)) == [e.pk for e in appended]
    assert audit_chain_sequence_task.apply().get() == 0
    assert audit_chain_verify(full=True).ok


def test_nightly_verification_walks_only_what_was_chained_since_the_last_verified_head(chain):
    first = audit_chain_verify()
    assert first.ok and first.full and first.checked == 5 and first.head_seq == 5
    assert AuditCheckpoint.objects.get().seq == 5
    for n in range(3):
        audit_event_record(actor=ACTOR, action="test.later", payload={"n": n})
    second = audit_chain_verify()
    assert second.ok and not second.full
    assert (second.from_seq, second.checked, second.head_seq) == (6, 3, 8)
    audit_event_record(actor=ACTOR, action="test.later")
    with translation.override("en"):
        assert "up to event 9: 1 new events checked from event 9" in verify()


def test_an_edit_behind_the_verified_head_is_found_by_the_full_walk(chain):
    assert audit_chain_verify().ok
    with pgtrigger.ignore("members.AuditEvent:append_only"):
        AuditEvent.objects.filter(seq=2).update(action="forged")
    assert audit_chain_verify().ok  # nightly: only what is new
    with pytest.raises(CommandError, match=r"\b2\b"):
        verify("--full")


def test_deleting_the_newest_verified_events_is_detected(chain):
    assert audit_chain_verify().ok
    with pgtrigger.ignore("members.AuditEvent:append_only_delete"):
        AuditEvent.objects.filter(seq__gte=4).delete()
    result = audit_chain_verify()
    assert not result.ok and result.broken_seq == 5 and "no longer the one verified" in result.problem


def test_an_event_left_unchained_too_long_is_reported(db, settings):
    settings.RISKSHARE_AUDIT_UNCHAINED_ALERT_SECONDS = 300
    with time_machine.travel(timezone.now() - dt.timedelta(minutes=10), tick=False):
        audit_event_record(actor=ACTOR, action="test.waiting")
    assert audit_unchained().stalled
    audit_chain_sequence()
    assert not audit_unchained().stalled and audit_unchained().events == 0


@pytest.mark.django_db(transaction=True)
def test_an_append_never_waits_for_another_writers_commit():
    from django.db import connection

    appended = threading.Event()
    release = threading.Event()

    def hold_open() -> None:
        try:
            with transaction.atomic():
                audit_event_record(actor=ACTOR, action="test.slow")
                appended.set()
                release.wait(10)
        finally:
            connection.close()

    slow = threading.Thread(target=hold_open)
    slow.start()
    try:
        assert appended.wait(10)
        # The first writer has appended and not committed: this one appends and commits at once.
        with transaction.atomic():
            audit_event_record(actor=ACTOR, action="test.fast")
        assert audit_chain_sequence() == 1  # the committed one; the open one is not visible yet
    finally:
        release.set()
        slow.join()
    assert audit_chain_sequence() == 1
    assert list(AuditEvent.objects.order_by("seq").values_list("action", flat=True)) == ["test.fast", "test.slow"]
    assert audit_chain_verify(full=True).ok
