"""The log's API: signed checkpoints, proofs that verify against them, tiles, receipts a member can check."""

from __future__ import annotations

import base64

import pytest

from members.models import AuditEvent
from sharing.models import Record
from sharing.tlog import leaf, merkle, note, tiles
from sharing.tlog.services import log_sequence
from tests.sharing.conftest import blacklist, overdue, submit


def unb64(value: str) -> bytes:
    return base64.b64decode(value)


@pytest.fixture
def log_of_three(member_a, key_v1):
    sent = [blacklist(), overdue(), blacklist()]
    batch_id = submit(member_a, sent).json()["id"]
    log_sequence()
    return batch_id, sent


def opened_checkpoint(member) -> note.Checkpoint:
    client = member.client()
    key = client.get("/api/v1/log/key")
    assert key.status_code == 200 and key["Content-Type"].startswith("text/plain")
    checkpoint = client.get("/api/v1/log/checkpoint")
    assert checkpoint.status_code == 200 and checkpoint["Content-Type"].startswith("text/plain")
    return note.checkpoint_open(checkpoint.content.decode(), note.verifier_parse(key.content.decode()))


def test_the_checkpoint_is_signed_and_every_inclusion_proof_verifies_against_it(member_a, log_of_three):
    checkpoint = opened_checkpoint(member_a)
    assert checkpoint.size == 3
    for index in range(3):
        answer = member_a.client().get(f"/api/v1/log/proof/inclusion?index={index}&tree_size=3").json()
        proof = [unb64(p) for p in answer["proof"]]
        assert merkle.verify_inclusion(index, 3, unb64(answer["leaf_hash"]), proof, checkpoint.root)
    assert AuditEvent.objects.filter(action="log.read").count() == 4


def test_consistency_between_two_checkpoints_verifies(member_a, log_of_three):
    first = opened_checkpoint(member_a)
    submit(member_a, [blacklist() for _ in range(5)])
    log_sequence()
    second = opened_checkpoint(member_a)
    answer = member_a.client().get(f"/api/v1/log/proof/consistency?first={first.size}&second={second.size}").json()
    proof = [unb64(p) for p in answer["proof"]]
    assert merkle.verify_consistency(first.size, second.size, first.root, second.root, proof)


def test_tiles_hold_the_leaf_hashes(member_a, log_of_three):
    client = member_a.client()
    proofs = [client.get(f"/api/v1/log/proof/inclusion?index={i}&tree_size=3").json() for i in range(3)]
    tile = client.get("/api/v1/log/tile/0/000.p/3")
    assert tile.status_code == 200 and tile["Content-Type"] == "application/octet-stream"
    assert tile.content == b"".join(unb64(p["leaf_hash"]) for p in proofs)
    assert client.get("/api/v1/log/tile/0/000.p/2").content == tile.content[:64]
    assert client.get("/api/v1/log/tile/0/000.p/4").status_code == 404  # not that wide yet
    assert client.get("/api/v1/log/tile/0/000").status_code == 404  # not full yet
    assert client.get("/api/v1/log/tile/0/0").status_code == 404  # not a canonical path
    assert tiles.subtree_root(tile.content[:64]) == merkle.node_hash(tile.content[:32], tile.content[32:64])


@pytest.mark.parametrize(
    ("query", "status", "field"),
    [
        ("index=x&tree_size=3", 400, "index"),
        ("index=-1&tree_size=3", 400, "index"),
        ("tree_size=3", 400, "index"),
        ("index=3&tree_size=3", 400, "/query/index"),
        ("index=0&tree_size=4", 400, "/query/tree_size"),
        ("index=0&tree_size=99999999999999999999999", 400, "tree_size"),
    ],
)
def test_bad_proof_parameters_are_problem_documents(member_a, log_of_three, query, status, field):
    response = member_a.client().get(f"/api/v1/log/proof/inclusion?{query}")
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/problem+json")
    assert field in response.content.decode()


def test_a_refused_read_writes_no_audit_event_and_an_answered_one_writes_one(member_a, log_of_three):
    client = member_a.client()
    assert client.get("/api/v1/log/proof/inclusion?index=0&tree_size=4").json()["code"] == "beyond_log"
    assert client.get("/api/v1/log/proof/consistency?first=1&second=4").json()["code"] == "beyond_log"
    assert client.get("/api/v1/log/tile/0/000.p/4").status_code == 404
    assert not AuditEvent.objects.filter(action="log.read").exists()
    assert client.get("/api/v1/log/proof/consistency?first=3&second=3").json()["proof"] == []
    assert client.get("/api/v1/log/tile/0/000.p/3").status_code == 200
    reads = AuditEvent.objects.filter(action="log.read").order_by("seq", "id")
    assert [event.payload for event in reads] == [
        {"what": "consistency", "first": 3, "second": 3},
        {"what": "tile", "tile": "0/000.p/3"},
    ]


def test_consistency_parameters_out_of_order_are_refused(member_a, log_of_three):
    response = member_a.client().get("/api/v1/log/proof/consistency?first=3&second=2")
    assert response.status_code == 400 and response.json()["code"] == "sizes_out_of_order"


def test_a_sequencer_committing_during_a_receipt_read_never_gives_a_receipt_short_of_leaves(
    member_a, key_v1, monkeypatch
):
    from sharing.records import selectors

    batch_id = submit(member_a, [blacklist(), overdue()]).json()["id"]
    read = selectors.execute_binary

    def read_then_sequence(sql, params, **kwargs):
        rows = read(sql, params, **kwargs)
        if sql is selectors._RECEIPT_SQL:
            log_sequence()  # commits between the receipt's leaf read and whatever it reads next
        return rows

    monkeypatch.setattr(selectors, "execute_binary", read_then_sequence)
    answer = member_a.client().get(f"/api/v1/batches/{batch_id}/receipt")
    assert answer.status_code == 409 and answer.json()["code"] == "receipt_pending"
    monkeypatch.undo()
    assert len(member_a.client().get(f"/api/v1/batches/{batch_id}/receipt").json()["leaves"]) == 2


def test_a_receipt_lets_the_member_recompute_and_prove_each_leaf(member_a, member_b, key_v1):
    sent = [blacklist(), overdue()]
    batch_id = submit(member_a, sent).json()["id"]
    pending = member_a.client().get(f"/api/v1/batches/{batch_id}/receipt")
    assert pending.status_code == 409 and pending.json()["code"] == "receipt_pending"
    log_sequence()
    assert member_b.client().get(f"/api/v1/batches/{batch_id}/receipt").status_code == 404
    receipt = member_a.client().get(f"/api/v1/batches/{batch_id}/receipt").json()
    key = note.verifier_parse(member_a.client().get("/api/v1/log/key").content.decode())
    checkpoint = note.checkpoint_open(receipt["checkpoint"], key)
    assert checkpoint.size == receipt["tree_size"] == 2
    by_reference = {record["reference"]: record for record in sent}
    for entry in receipt["leaves"]:
        salt = unb64(entry["salt"])
        record = dict(by_reference[entry["reference"]])
        record["identifiers"] = [(i["type"], i["token"]) for i in record["identifiers"]]
        encoded = leaf.leaf_encode(
            seq=entry["index"],
            kind=entry["kind"],
            member=member_a.institution.pk,
            reference_digest=leaf.salted(salt, entry["reference"].encode()),
            record_digest=leaf.salted(salt, leaf.record_change(record)),
            time=entry["time"],
        )
        assert merkle.leaf_hash(encoded) == unb64(entry["leaf_hash"])
        proof = member_a.client().get(f"/api/v1/log/proof/inclusion?index={entry['index']}&tree_size=2").json()
        assert merkle.verify_inclusion(
            entry["index"], 2, unb64(entry["leaf_hash"]), [unb64(p) for p in proof["proof"]], checkpoint.root
        )


def test_a_record_shows_where_its_latest_change_is_in_the_log(member_a, log_of_three):
    _batch, sent = log_of_three
    detail = member_a.client().get(f"/api/v1/records/{sent[1]['reference']}").json()
    assert detail["log_index"] == 1
    proof = member_a.client().get("/api/v1/log/proof/inclusion?index=1&tree_size=3").json()
    assert detail["leaf_hash"] == proof["leaf_hash"]
    member_a.client().post(f"/api/v1/records/{sent[1]['reference']}/retract", {"reason": "Wrong."}, format="json")
    assert member_a.client().get(f"/api/v1/records/{sent[1]['reference']}").json()["log_index"] == 1  # until sequenced
    log_sequence()
    assert member_a.client().get(f"/api/v1/records/{sent[1]['reference']}").json()["log_index"] == 3
    assert Record.objects.count() == 3


def test_the_management_command_prints_the_verifier_key(member_a, capsys):
    from django.core.management import call_command

    call_command("log_key")
    printed = capsys.readouterr().out.strip()
    assert printed == member_a.client().get("/api/v1/log/key").content.decode().strip()
    note.verifier_parse(printed)
