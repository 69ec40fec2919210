"""The hash-chained audit trail: appends in order, refuses rewrites, and detects tampering."""

from __future__ import annotations

import itertools
from io import StringIO

import pgtrigger
import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, transaction

from members.audit import GENESIS_HASH, Actor, audit_chain_verify, audit_event_record, event_hash
from members.models import AuditEvent
from members.tasks import audit_chain_verify_task

ACTOR = Actor.system("tests")


@pytest.fixture
def chain(db) -> list[AuditEvent]:
    return [audit_event_record(actor=ACTOR, action="test.event", payload={"n": n, "名": "值"}) for n in range(5)]


def verify() -> str:
    out = StringIO()
    call_command("audit_verify", stdout=out)
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
    assert stored.hash == event.hash == expected
    assert stored.payload == payload and stored.occurred_at == event.occurred_at
    assert audit_chain_verify().ok


def test_application_cannot_update_or_delete(chain):
    with pytest.raises(DatabaseError, match="Cannot update or delete"), transaction.atomic():
        AuditEvent.objects.filter(seq=2).update(action="other")
    with pytest.raises(DatabaseError, match="Cannot update or delete"), transaction.atomic():
        AuditEvent.objects.filter(seq=2).delete()
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
    with pgtrigger.ignore("members.AuditEvent:append_only"):
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
    result = audit_chain_verify()
    assert result.ok and result.checked == 40
