"""The token specification v1 against its published vectors, plus properties the vectors cannot show."""

from __future__ import annotations

import hashlib
import hmac
import json
import subprocess
import sys
from pathlib import Path

import pytest

from sharing.tokens.identifiers import ID_TYPES, InvalidIdentifier, canonicalize, make_token

VECTORS_PATH = Path(__file__).resolve().parents[3] / "docs" / "identifier-token-vectors.json"
DOCUMENT = json.loads(VECTORS_PATH.read_text(encoding="utf-8"))
KEY = bytes.fromhex(DOCUMENT["test_key_hex"])
VALID = [v for v in DOCUMENT["vectors"] if "canonical" in v]
INVALID = [v for v in DOCUMENT["vectors"] if "reason" in v]


def _id(vector: dict) -> str:
    return f"{vector['type']}:{vector['note']}"


@pytest.mark.parametrize("vector", VALID, ids=_id)
def test_valid_vector(vector):
    assert canonicalize(vector["type"], vector["raw"]) == vector["canonical"]
    assert make_token(KEY, vector["type"], vector["raw"]) == vector["token"]


@pytest.mark.parametrize("vector", INVALID, ids=_id)
def test_invalid_vector(vector):
    with pytest.raises(InvalidIdentifier) as excinfo:
        canonicalize(vector["type"], vector["raw"])
    assert excinfo.value.reason == vector["reason"]
    assert isinstance(excinfo.value, ValueError)


def test_vectors_cover_every_type_valid_and_invalid():
    for id_type in ID_TYPES:
        assert any(v["type"] == id_type for v in VALID), id_type
        assert any(v["type"] == id_type for v in INVALID), id_type
    reasons = {v["reason"] for v in INVALID}
    assert {"bad_check_character", "bad_date", "bad_length", "bad_characters", "unknown_type"} <= reasons


@pytest.mark.parametrize("vector", VALID, ids=_id)
def test_published_tokens_follow_the_message_format(vector):
    # The file itself is consistent with the spec, independently of the library.
    message = f"riskshare:v1:{vector['type']}:{vector['canonical']}".encode()
    assert vector["token"] == hmac.new(KEY, message, hashlib.sha256).hexdigest()


@pytest.mark.parametrize("vector", INVALID, ids=_id)
def test_errors_never_echo_the_raw_value(vector):
    with pytest.raises(InvalidIdentifier) as excinfo:
        canonicalize(vector["type"], vector["raw"])
    raw = vector["raw"].strip()
    if len(raw) >= 4:
        assert raw not in str(excinfo.value)
        assert raw not in repr(excinfo.value.args)


def test_canonical_forms_are_fixed_points():
    for vector in VALID:
        assert canonicalize(vector["type"], vector["canonical"]) == vector["canonical"]


def test_tokens_differ_by_type_and_key():
    assert make_token(KEY, "cn_mobile", "13800138000") != make_token(KEY, "device_id", "13800138000")
    assert make_token(KEY, "cn_mobile", "13800138000") != make_token(b"\x01" * 32, "cn_mobile", "13800138000")


def test_library_imports_without_django_settings():
    code = (
        "import sys; from sharing.tokens.identifiers import make_token; "
        "import django.conf; assert not django.conf.settings.configured; "
        "print(make_token(bytes(32), 'cn_mobile', '13800138000'))"
    )
    result = subprocess.run(  # noqa: S603 - our interpreter
        [sys.executable, "-c", code],
        cwd=VECTORS_PATH.parents[1],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin"},
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.strip()) == 64
