"""`riskshare keys fetch`, `tokenize` under a v2 key version, `selftest`: against a live server and evaluator."""

from __future__ import annotations

import base64
import csv
import json
from pathlib import Path

import pytest

from sharing.cli import main, tokenize_v2
from sharing.cli.common import Client
from sharing.evaluations.models import TokenEvaluationCount
from sharing.tokens import oprf

ID = "11010519491231002X"
LEGACY_ID = "110105491231002"  # the same person as ID
PHONE = "13800138000"


def _csv(path: Path, rows) -> Path:
    with open(path, "w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows(rows)
    return path


def _rows(path: Path) -> list[list[str]]:
    with open(path, encoding="utf-8", newline="") as handle:
        return list(csv.reader(handle))


@pytest.fixture
def member_env(live_server, member_a, key_v2, monkeypatch):
    monkeypatch.setenv("RISKSHARE_API_KEY", member_a.key)
    monkeypatch.setenv("RISKSHARE_URL", live_server.url)
    monkeypatch.delenv("RISKSHARE_CONSORTIUM_KEY_FILE", raising=False)
    monkeypatch.delenv("RISKSHARE_TOKEN_KEYS_FILE", raising=False)
    return live_server.url


@pytest.fixture
def keys_file(member_env, tmp_path):
    path = tmp_path / "keys.json"
    assert main(["keys", "fetch", "-o", str(path), "--url", member_env]) == 0
    assert json.loads(path.read_text(encoding="utf-8"))["keys"][1]["scheme"] == "voprf-v2"
    return path


def _expected(token_evaluator, id_type, canonical):
    return oprf.evaluate(oprf.evaluator_for(token_evaluator.seed(2), id_type), id_type, canonical)


def test_tokenize_v2_blinds_here_evaluates_there_and_writes_the_v2_tokens(
    member_env, keys_file, tmp_path, token_evaluator, member_a, capsys
):
    source = _csv(
        tmp_path / "in.csv",
        [["loan", "id", "phone"], ["L1", ID, PHONE], ["L2", LEGACY_ID, ""], ["L3", "110105194912310021", PHONE]],
    )
    out = tmp_path / "out.csv"
    args = ["tokenize", str(source), "-o", str(out), "--keys", str(keys_file), "--url", member_env]
    assert main([*args, "--column", "id=cn_resident_id", "--column", "phone=cn_mobile"]) == 0
    assert "proofs verified" in capsys.readouterr().err
    rows = _rows(out)
    assert rows[0] == ["loan", "token:cn_resident_id", "token:cn_mobile", "key_version"]
    id_token, phone_token = (
        _expected(token_evaluator, "cn_resident_id", ID),
        _expected(token_evaluator, "cn_mobile", PHONE),
    )
    assert rows[1:] == [["L1", id_token, phone_token, "2"], ["L2", id_token, "", "2"]]
    assert _rows(tmp_path / "in.rejects.csv")[1:] == [["3", "id", "bad_check_character"]]
    # Deduplicated before blinding: one evaluation per distinct value of a type.
    counts = dict(
        TokenEvaluationCount.objects.filter(member_id=member_a.institution.pk).values_list("id_type", "evaluated")
    )
    assert counts == {"cn_resident_id": 1, "cn_mobile": 1}
    assert not (tmp_path / "out.csv.state.json").exists()


def test_a_tampered_evaluation_stops_the_run_and_writes_nothing(member_env, keys_file, tmp_path, monkeypatch, capfd):
    real_post = Client.post

    def tampering(self, path, body, headers=None):
        answer = real_post(self, path, body, headers)
        if path == "/api/v1/tokens/evaluate":
            answer["evaluated"] = answer["evaluated"][::-1] if len(answer["evaluated"]) > 1 else answer["evaluated"]
            proof = bytearray(base64.b64decode(answer["proof"]))
            proof[5] ^= 1
            answer["proof"] = base64.b64encode(bytes(proof)).decode()
        return answer

    monkeypatch.setattr(Client, "post", tampering)
    source = _csv(tmp_path / "in.csv", [["id"], [ID]])
    out = tmp_path / "out.csv"
    code = main(["tokenize", str(source), "-o", str(out), "--keys", str(keys_file), "--column", "id=cn_resident_id"])
    assert code == 1
    message = capfd.readouterr().err  # file descriptor 2 itself: where a Rust panic would have printed
    assert "does not verify against the pinned public key" in message and "panicked" not in message
    assert not out.exists()


def test_an_interrupted_v2_run_resumes_without_evaluating_twice(
    member_env, keys_file, tmp_path, monkeypatch, member_a, token_evaluator
):
    monkeypatch.setattr(tokenize_v2, "CHUNK_ROWS", 2)
    phones = [f"1380013800{n}" for n in range(6)]
    source = _csv(tmp_path / "in.csv", [["phone"], *[[p] for p in phones]])
    out = tmp_path / "out.csv"
    args = ["tokenize", str(source), "-o", str(out), "--keys", str(keys_file), "--column", "phone=cn_mobile"]
    real_post, calls = Client.post, []

    def failing_third(self, path, body, headers=None):
        calls.append(path)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real_post(self, path, body, headers)

    monkeypatch.setattr(Client, "post", failing_third)
    assert main(args) == 130
    assert not out.exists() and (tmp_path / "out.csv.state.json").exists()
    monkeypatch.setattr(Client, "post", real_post)
    assert main(args) == 0
    assert [row[0] for row in _rows(out)[1:]] == [_expected(token_evaluator, "cn_mobile", p) for p in phones]
    assert TokenEvaluationCount.objects.get(member_id=member_a.institution.pk).evaluated == 6


def test_keys_fetch_refuses_a_platform_key_of_another_fingerprint(member_env, tmp_path, capsys):
    path = tmp_path / "keys.json"
    assert main(["keys", "fetch", "-o", str(path), "--url", member_env, "--fingerprint", "00" * 32]) == 1
    assert "fingerprint" in capsys.readouterr().err and not path.exists()


def test_a_v1_key_version_in_the_keys_file_is_not_tokenized_through_the_platform(
    member_env, keys_file, tmp_path, capsys
):
    source = _csv(tmp_path / "in.csv", [["id"], [ID]])
    args = ["tokenize", str(source), "-o", str(tmp_path / "o.csv"), "--keys", str(keys_file), "--key-version", "1"]
    assert main([*args, "--column", "id=cn_resident_id"]) == 1
    assert "v1 consortium key" in capsys.readouterr().err


def test_selftest_passes_on_this_machine(capsys):
    assert main(["selftest"]) == 0
    assert "selftest passed" in capsys.readouterr().out


def test_the_packaged_v2_vectors_are_the_published_ones():
    root = Path(__file__).resolve().parents[3]
    published = json.loads((root / "docs" / "identifier-token-vectors-v2.json").read_text(encoding="utf-8"))
    packaged = json.loads(
        (root / "sharing" / "tokens" / "identifier-token-vectors-v2.json").read_text(encoding="utf-8")
    )
    assert packaged == published
