"""The token evaluator's answers to what the web process (or anything on its socket) may send."""

from __future__ import annotations

import json

import pytest

from sharing.tokens import oprf
from sharing.tokens.evaluator import Keys, SeedFileError, answer, seeds_read, seeds_write


@pytest.fixture
def keys(tmp_path):
    keys = Keys(tmp_path / "seeds.json")
    keys.seed_create(2)
    return keys


def test_a_seed_is_created_once_kept_private_and_found_again(keys, tmp_path):
    path = tmp_path / "seeds.json"
    assert path.stat().st_mode & 0o777 == 0o600
    first = keys.public_keys(2)
    assert keys.seed_create(2) == first  # an existing version keeps its seed
    assert Keys(path).public_keys(2) == first
    assert answer(keys, {"op": "public_keys", "version": 3}, b"") == ({"error": "unknown_version"}, b"")
    # A seed written to the file by another process is found without a restart.
    seeds_write(path, {**seeds_read(path), 3: bytes(32)})
    assert answer(keys, {"op": "public_keys", "version": 3}, b"")[0]["public_keys"]["email"]


@pytest.mark.parametrize(
    ("header", "payload", "error"),
    [
        ({"op": "evaluate", "version": 2, "type": "passport"}, b"\x00" * 32, "unknown_type"),
        ({"op": "evaluate", "version": 2, "type": "cn_mobile"}, b"\x00" * 31, "bad_request"),
        ({"op": "evaluate", "version": 2, "type": "cn_mobile"}, b"\x00" * 32, "bad_element"),
        ({"op": "evaluate", "version": "2", "type": "cn_mobile"}, b"", "bad_request"),
        ({"op": "evaluate_full", "version": 2, "type": "cn_mobile"}, b'["+86 138 0013 8000"]', "not_canonical"),
        ({"op": "evaluate_full", "version": 2, "type": "cn_mobile"}, b"not json", "bad_request"),
        ({"op": "delete_everything", "version": 2}, b"", "bad_request"),
    ],
)
def test_what_it_cannot_serve_is_refused_with_a_code(keys, header, payload, error):
    assert answer(keys, header, payload)[0]["error"] == error


def test_a_full_evaluation_is_the_token_the_member_gets(keys):
    _reply, full = answer(keys, {"op": "evaluate_full", "version": 2, "type": "cn_mobile"}, b'["13800138000"]')
    blinded = oprf.Blinded([oprf.token_input("cn_mobile", "13800138000")])
    _reply, evaluated = answer(keys, {"op": "evaluate", "version": 2, "type": "cn_mobile"}, blinded.elements[0])
    proof, element = evaluated[:64], evaluated[64:]
    public = bytes.fromhex(keys.public_keys(2)["cn_mobile"])
    assert blinded.finalize([element], proof, public) == json.loads(full)


def test_a_damaged_seed_file_is_refused_without_showing_a_seed(tmp_path):
    path = tmp_path / "seeds.json"
    path.write_text(json.dumps({"seeds": {"2": "ab" * 31}}), encoding="utf-8")
    with pytest.raises(SeedFileError) as caught:
        seeds_read(path)
    assert "ab" * 31 not in str(caught.value)
