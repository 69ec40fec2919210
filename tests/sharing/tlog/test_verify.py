"""`riskshare log verify` and the operators' verification catch edited, deleted, reordered leaves and forks."""

from __future__ import annotations

import json

import pgtrigger
import pytest
from django.db import transaction
from django.db.models import F
from django.utils import translation

from members.audit import Actor
from sharing.cli import main
from sharing.models import LogCheckpoint, LogLeaf, LogState, LogTile
from sharing.tlog import leaf, merkle, note, tiles
from sharing.tlog.services import log_sequence, log_verify
from sharing.tlog.signing import checkpoint_sign, log_name, log_verifier_key
from tests.sharing.conftest import blacklist, overdue, submit

IGNORED = (
    "sharing.LogLeaf:append_only_update",
    "sharing.LogLeaf:append_only_delete",
    "sharing.LogCheckpoint:append_only",
)


def rewrite_history(change, *, keep_checkpoints: bool = False) -> None:
    """What a platform rewriting its past would do: change leaves, then rebuild hashes, tiles and a new head."""
    with transaction.atomic(), pgtrigger.ignore(*IGNORED):
        change()
        rows = list(LogLeaf.objects.order_by("index"))
        hashes = []
        for seq, row in enumerate(rows):
            encoded = leaf.leaf_encode(
                seq=seq,
                kind=row.kind,
                member=row.member_id,
                reference_digest=bytes(row.reference_digest),
                record_digest=bytes(row.record_digest),
                time=row.created_at,
            )
            hashes.append(merkle.leaf_hash(encoded))
        LogLeaf.objects.update(index=-1 - F("index"))  # out of the way of the unique indices set next
        for seq, (row, value) in enumerate(zip(rows, hashes, strict=True)):
            LogLeaf.objects.filter(pk=row.pk).update(index=seq, leaf_hash=value)
        LogTile.objects.all().delete()
        LogTile.objects.bulk_create(
            LogTile(level=level, index=index, hashes=content)
            for (level, index), content in tiles.tiles_append(0, {}, hashes).items()
        )
        root = merkle.root_of(hashes)
        LogState.objects.filter(pk=1).update(size=len(hashes), root=root)
        if not keep_checkpoints:
            LogCheckpoint.objects.all().delete()
        signed = checkpoint_sign(note.Checkpoint(log_name(), len(hashes), root))
        LogCheckpoint.objects.update_or_create(size=len(hashes), defaults={"root": root, "note": signed})


@pytest.fixture
def member_cli(live_server, member_a, key_v1, monkeypatch, tmp_path):
    monkeypatch.setenv("RISKSHARE_API_KEY", member_a.key)
    monkeypatch.setenv("RISKSHARE_URL", live_server.url)
    monkeypatch.setenv("RISKSHARE_LOG_KEY", log_verifier_key())
    sent = [blacklist(), overdue(), blacklist()]
    records = tmp_path / "records.jsonl"
    records.write_text("".join(json.dumps(r) + "\n" for r in sent))
    batch_id = submit(member_a, sent).json()["id"]
    log_sequence()
    state = tmp_path / "log.state.json"

    def run(*extra: str) -> int:
        return main(["log", "verify", "--state", str(state), "--max-retries", "0", *extra])

    assert run("--batch", str(batch_id), "--records", str(records)) == 0
    run.state, run.records, run.member = state, records, member_a
    return run


def test_a_growing_honest_log_verifies_day_after_day(member_cli, capsys):
    submit(member_cli.member, [blacklist() for _ in range(4)])
    log_sequence()
    assert member_cli("--records", str(member_cli.records)) == 0
    out = capsys.readouterr().out
    assert "log OK at tree size 7" in out and "3 leaves included" in out
    kept = json.loads(member_cli.state.read_text())
    assert kept["checkpoint"]["size"] == 7 and len(kept["receipts"]) == 1


def test_the_batches_riskshare_submit_sent_are_verified_without_naming_them(member_cli, tmp_path, capsys):
    sent = [blacklist(), overdue()]
    records = tmp_path / "more.jsonl"
    records.write_text("".join(json.dumps(r) + "\n" for r in sent))
    assert main(["submit", str(records), "--max-retries", "0"]) == 0
    log_sequence()
    assert member_cli("--records", str(records)) == 0  # its state file, more.jsonl.state.json, names the batch
    captured = capsys.readouterr()
    assert "1 batch(es) from" in captured.err and "5 leaves included" in captured.out
    assert len(json.loads(member_cli.state.read_text())["receipts"]) == 2
    # A file that is no state file of submit is refused, naming it.
    other = tmp_path / "other.json"
    other.write_text("[]")
    assert main(["log", "verify", "--state", str(member_cli.state), "--submitted", str(other)]) == 1
    assert "is not a state file of `riskshare submit`" in capsys.readouterr().err


@pytest.mark.parametrize("tamper", ["edit", "delete", "reorder"])
def test_a_rewritten_history_is_caught_by_the_member(member_cli, capsys, tamper):
    def change():
        rows = list(LogLeaf.objects.order_by("index"))
        if tamper == "edit":
            LogLeaf.objects.filter(pk=rows[1].pk).update(record_digest=b"\x00" * 32)
        elif tamper == "delete":
            LogLeaf.objects.filter(pk=rows[0].pk).delete()
        else:
            LogLeaf.objects.filter(pk=rows[0].pk).update(created_at=rows[2].created_at, kind=rows[2].kind)
            LogLeaf.objects.filter(pk=rows[2].pk).update(created_at=rows[0].created_at, kind=rows[0].kind)
            rd0, rd2 = rows[0].record_digest, rows[2].record_digest
            LogLeaf.objects.filter(pk=rows[0].pk).update(record_digest=rd2)
            LogLeaf.objects.filter(pk=rows[2].pk).update(record_digest=rd0)

    rewrite_history(change)
    submit(member_cli.member, [blacklist()])
    log_sequence()
    assert member_cli() == 1
    out = capsys.readouterr().out
    assert "MISMATCH" in out and "not consistent with the checkpoint" in out


def test_a_forked_checkpoint_is_caught_by_a_member_that_saw_the_first(member_cli, capsys):
    # A second signed head of the same size over another tree: the platform signed a fork.
    rewrite_history(lambda: LogLeaf.objects.filter(index=2).update(reference_digest=b"\x01" * 32))
    assert member_cli() == 1
    assert "rewritten or forked" in capsys.readouterr().out


@pytest.mark.parametrize("tamper", ["edit", "delete", "reorder"])
def test_the_operators_verification_names_what_was_changed(member_a, key_v1, tamper):
    submit(member_a, [blacklist() for _ in range(4)])
    log_sequence()
    assert log_verify().ok
    with transaction.atomic(), pgtrigger.ignore(*IGNORED):
        rows = list(LogLeaf.objects.order_by("index"))
        if tamper == "edit":
            LogLeaf.objects.filter(pk=rows[1].pk).update(record_digest=b"\x00" * 32)
        elif tamper == "delete":
            LogLeaf.objects.filter(pk=rows[1].pk).delete()
        else:
            LogLeaf.objects.filter(pk=rows[1].pk).update(index=-1)
            LogLeaf.objects.filter(pk=rows[2].pk).update(index=1)
            LogLeaf.objects.filter(pk=rows[1].pk).update(index=2)
    with translation.override("en"):
        result = log_verify(actor=Actor.system("tests"))
    assert not result.ok
    expected = {"edit": "leaf 1: its content", "delete": "leaf 1 is missing", "reorder": "leaf 1: its content"}
    assert any(problem.startswith(expected[tamper]) for problem in result.problems), result.problems


def test_a_history_rebuilt_from_edited_leaves_fails_the_operators_check_of_old_checkpoints(member_a, key_v1):
    submit(member_a, [blacklist() for _ in range(3)])
    log_sequence()
    submit(member_a, [blacklist()])
    log_sequence()
    rewrite_history(lambda: LogLeaf.objects.filter(index=0).update(record_digest=b"\x02" * 32), keep_checkpoints=True)
    with translation.override("en"):
        problems = log_verify().problems
    assert any("checkpoint 3" in problem for problem in problems), problems


def test_the_admin_shows_the_log_and_its_verify_action_finds_a_tampered_leaf(admin_client_for, member_a, key_v1):
    from django.contrib.auth import get_user_model

    submit(member_a, [blacklist() for _ in range(3)])
    log_sequence()
    operator = get_user_model().objects.create_superuser("logop", "logop@example.test", "pw-Xy7!secret")
    client = admin_client_for(operator)
    page = client.get("/admin/sharing/logcheckpoint/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "3" in text and LogCheckpoint.objects.get().note.splitlines()[2] in text
    ok = client.post("/admin/sharing/logcheckpoint/verify/", follow=True)
    assert "problem" not in ok.content.decode() and ok.status_code == 200
    with transaction.atomic(), pgtrigger.ignore(*IGNORED):
        LogLeaf.objects.filter(index=1).update(record_digest=b"\x03" * 32)
    bad = client.post("/admin/sharing/logcheckpoint/verify/", follow=True).content.decode()
    assert "叶 1：其内容与存储的哈希不符" in bad  # the operators' language


def test_the_report_embeds_the_checkpoint_and_proofs_that_verify_report_checks(member_a, key_v1, tmp_path, capsys):
    import datetime as dt
    import io
    import zipfile

    from core.clock import business_today
    from sharing.cli import main
    from sharing.common.signing import public_key_pem
    from sharing.reports.services import report_generate
    from sharing.reports.verify import report_verify

    submit(member_a, [blacklist() for _ in range(3)])
    log_sequence()
    today = business_today()
    report = report_generate(
        member=member_a.institution,
        period_start=today,
        period_end=today + dt.timedelta(days=1),
        actor=Actor.system("t"),
    )
    content = bytes(report.content)
    files = {
        name: zipfile.ZipFile(io.BytesIO(content)).read(name)
        for name in zipfile.ZipFile(io.BytesIO(content)).namelist()
    }
    log = json.loads(files["log.json"])
    assert log["leaves_in_period"] == 3 and [entry["index"] for entry in log["leaves"]] == [0, 1, 2]
    result = report_verify(content, public_key_pem(), log_key=log_verifier_key())
    assert result.ok and result.log_leaves_checked == 3
    path = tmp_path / "report.zip"
    path.write_bytes(content)
    pem = tmp_path / "key.pem"
    pem.write_bytes(public_key_pem())
    assert main(["verify-report", str(path), "--public-key", str(pem), "--log-key", log_verifier_key()]) == 0
    assert "3 log leaves included" in capsys.readouterr().out
    # A report whose log part claims a leaf the checkpoint does not hold fails, even re-signed by the platform.
    from sharing.reports.verify import Verification, _log_check

    log["leaves"][1]["leaf_hash"] = log["leaves"][0]["leaf_hash"]
    checked = Verification()
    _log_check(checked, json.dumps(log).encode(), log_verifier_key())
    assert [m.problem for m in checked.mismatches] == ["leaf 1 is not included under the checkpoint"]
    other = note.verifier_key(
        "riskshare.local/log",
        __import__("cryptography.hazmat.primitives.asymmetric.ed25519", fromlist=["x"])
        .Ed25519PrivateKey.generate()
        .public_key(),
    )
    checked = Verification()
    _log_check(checked, files["log.json"], other)
    assert checked.mismatches and "does not verify" in checked.mismatches[-1].problem
