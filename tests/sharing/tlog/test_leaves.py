"""Every record change appends one leaf in its transaction; the sequencer numbers them without gaps."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest
from django.db import transaction

from members.audit import Actor
from sharing.disputes.services import dispute_settle
from sharing.models import LogLeaf, LogState, LogTile, Record
from sharing.records.services import record_resolve
from sharing.retention.services import records_purge
from sharing.tlog import leaf, merkle
from sharing.tlog.selectors import log_pending_count
from sharing.tlog.services import Change, log_append, log_sequence
from tests.factories import OperatorFactory
from tests.sharing.conftest import blacklist, days_ago, loan, new_token, overdue, reported, submit


def kinds() -> list[tuple[str, int | None]]:
    """The leaves so far, in log order: sequenced first (leaves are pending rows until then)."""
    log_sequence()
    return list(LogLeaf.objects.order_by("index").values_list("kind", "member_id"))


def expected_leaf_hash(index: int, row: LogLeaf) -> bytes:
    return merkle.leaf_hash(
        leaf.leaf_encode(
            seq=index,
            kind=row.kind,
            member=row.member_id,
            reference_digest=bytes(row.reference_digest),
            record_digest=bytes(row.record_digest),
            time=row.created_at,
        )
    )


def test_a_batch_appends_a_leaf_per_record_it_changed_that_the_member_can_recompute(member_a, key_v1):
    sent = [blacklist(), overdue(resolved_date=days_ago(3)), loan(maturity_date="2030-01-31")]
    batch_id = submit(member_a, sent).json()["id"]
    assert kinds() == [("reported", member_a.institution.pk)] * 3
    # The member recomputes the digests from what it sent and the record's salt.
    for record in sent:
        row = Record.objects.get(reference=record["reference"])
        salt = bytes(row.log_salt)
        assert len(salt) == leaf.SALT_SIZE
        canonical = dict(record)
        canonical["identifiers"] = [{"token": i["token"], "type": i["type"]} for i in record["identifiers"]]
        body = leaf.canonical_json(canonical)
        stored = LogLeaf.objects.get(record_id=row.pk)
        assert bytes(stored.record_digest) == hashlib.sha256(salt + body).digest()
        assert bytes(stored.reference_digest) == hashlib.sha256(salt + record["reference"].encode()).digest()
        assert stored.batch_id == batch_id
    # An unchanged re-send changes nothing and logs nothing (a loan's re-send is its monthly report: an
    # update); a changed one is an update.
    submit(member_a, sent[:2])
    assert len(kinds()) == 3
    submit(member_a, [{**sent[0], "event_date": "2025-03-02"}])
    assert kinds()[-1] == ("updated", member_a.institution.pk)


def test_the_sequencer_numbers_leaves_contiguously_even_past_a_rollback(member_a, key_v1):
    submit(member_a, [blacklist() for _ in range(3)])
    with pytest.raises(RuntimeError), transaction.atomic():
        submit(member_a, [blacklist()])
        assert log_pending_count() == 4
        raise RuntimeError("the change fails after its leaf was written")
    submit(member_a, [blacklist() for _ in range(2)])
    result = log_sequence()
    assert (result.sequenced, result.size, result.checkpoint) == (5, 5, 5)
    rows = list(LogLeaf.objects.order_by("index"))
    assert [row.index for row in rows] == [0, 1, 2, 3, 4]
    assert [bytes(row.leaf_hash) for row in rows] == [expected_leaf_hash(i, row) for i, row in enumerate(rows)]
    state = LogState.objects.get()
    assert bytes(state.root) == merkle.root_of([bytes(row.leaf_hash) for row in rows])
    assert log_sequence().sequenced == 0


def test_resolve_dispute_settle_and_purge_each_log_a_leaf_naming_no_member_for_the_platform(member_a, member_b, key_v1):
    token = new_token()
    reported(member_b, [overdue([token], reference="LOAN-1", event_date="2019-01-01")])
    record = Record.objects.get(reference="LOAN-1")
    response = member_a.client().post(
        "/api/v1/disputes",
        {"identifiers": [{"type": "cn_resident_id", "token": token}], "key_version": 1, "reason": "Not my loan."},
        format="json",
    )
    assert response.status_code == 201, response.content
    from sharing.models import Dispute

    dispute = Dispute.objects.get(pk=response.json()["id"])
    dispute_settle(actor=Actor.operator(OperatorFactory()), dispute=dispute, outcome="confirmed", note="Checked.")
    record_resolve(actor=Actor.system("tests"), record=record, resolved_date=dt.date(2019, 2, 1))
    member = member_b.institution.pk
    assert kinds() == [("reported", member), ("disputed", None), ("dispute_settled", None), ("resolved", None)]
    records_purge(today=dt.date(2026, 1, 1))
    assert not Record.objects.filter(pk=record.pk).exists()  # the salt went with the row
    assert kinds()[-1] == ("purged", None)
    assert LogLeaf.objects.filter(record_id=record.pk).count() == 5


def test_a_member_resolving_and_retracting_through_the_api_is_named(member_a, key_v1):
    reported(member_a, [blacklist(reference="A-1"), blacklist(reference="A-2")])
    client = member_a.client()
    assert client.post("/api/v1/records/A-1/resolve", {"resolved_date": days_ago(1)}, format="json").status_code == 200
    assert client.post("/api/v1/records/A-2/retract", {"reason": "Sent by mistake."}, format="json").status_code == 200
    member = member_a.institution.pk
    assert kinds()[-2:] == [("resolved", member), ("retracted", member)]
    row = LogLeaf.objects.order_by("index").last()
    salt = bytes(Record.objects.get(reference="A-2").log_salt)
    change = leaf.canonical_json({"reason": "Sent by mistake.", "reference": "A-2", "status": "retracted"})
    assert bytes(row.record_digest) == hashlib.sha256(salt + change).digest()


def test_tiles_hold_the_same_tree_as_the_leaves(member_a, key_v1):
    salt = b"s" * 16
    changes = [Change("reported", 1, n, f"R{n}", salt, b"{}") for n in range(700)]
    for start in (0, 1, 300, 555):
        log_append(changes[start : start + 300])
        log_sequence()
    hashes = [bytes(h) for h in LogLeaf.objects.order_by("index").values_list("leaf_hash", flat=True)]
    assert len(hashes) == 300 + 300 + 300 + 145 == LogState.objects.get().size
    assert bytes(LogState.objects.get().root) == merkle.root_of(hashes)
    widths = {(t.level, t.index): len(bytes(t.hashes)) // 32 for t in LogTile.objects.all()}
    assert widths == {(0, 0): 256, (0, 1): 256, (0, 2): 256, (0, 3): 256, (0, 4): 21, (1, 0): 4}


def test_a_sequenced_leaf_cannot_be_changed_or_deleted(member_a, key_v1):
    from django.db import DatabaseError

    reported(member_a, [blacklist()])
    log_sequence()
    row = LogLeaf.objects.get()
    with pytest.raises(DatabaseError), transaction.atomic():
        LogLeaf.objects.filter(pk=row.pk).update(record_digest=b"x" * 32)
    with pytest.raises(DatabaseError), transaction.atomic():
        LogLeaf.objects.filter(pk=row.pk).delete()
