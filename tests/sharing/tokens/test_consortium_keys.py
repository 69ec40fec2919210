"""Consortium key versions: created to a file, current or retired, refused when unknown or retired."""

from __future__ import annotations

import json
import stat
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from core.errors import DomainError
from members.models import AuditEvent
from sharing.models import ConsortiumKey
from sharing.tokens.keyfile import key_check_value, key_file_read
from sharing.tokens.selectors import key_version_require_current


def new_key(path) -> str:
    out = StringIO()
    call_command("consortium_key_new", "--out", str(path), stdout=out)
    return out.getvalue()


def test_new_key_is_written_to_a_private_file_and_only_its_version_stored(db, tmp_path):
    path = tmp_path / "v1.json"
    new_key(path)
    document = json.loads(path.read_text())
    assert document["version"] == 1 and len(document["key"]) == 64
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    record = ConsortiumKey.objects.get()
    assert record.state == "current"
    assert record.check_value == key_check_value(bytes.fromhex(document["key"]))
    assert key_file_read(path).version == 1
    # The key itself is nowhere in the database.
    assert not ConsortiumKey.objects.filter(check_value__contains=document["key"][:16]).exists()
    assert not AuditEvent.objects.filter(payload__icontains=document["key"]).exists()
    assert AuditEvent.objects.filter(action="consortium_key.created").count() == 1


def test_new_key_refuses_to_overwrite_and_registers_nothing(db, tmp_path):
    path = tmp_path / "existing.json"
    path.write_text("{}")
    with pytest.raises(CommandError, match="already exists"):
        new_key(path)
    assert not ConsortiumKey.objects.exists()


def test_versions_are_checked_by_state(db, tmp_path):
    new_key(tmp_path / "v1.json")
    new_key(tmp_path / "v2.json")
    key_version_require_current(version=1)
    key_version_require_current(version=2)
    with pytest.raises(DomainError) as excinfo:
        key_version_require_current(version=3)
    assert excinfo.value.code == "unknown_key_version" and excinfo.value.field == "/key_version"
    call_command("consortium_key_retire", "--key-version", "1", "--reason", "rotation done", stdout=StringIO())
    with pytest.raises(DomainError) as excinfo:
        key_version_require_current(version=1)
    assert excinfo.value.code == "retired_key_version"
    assert AuditEvent.objects.filter(action="consortium_key.retired").count() == 1


def test_the_last_current_version_cannot_be_retired(db, tmp_path):
    new_key(tmp_path / "v1.json")
    with pytest.raises(CommandError, match=r"\[last_current_key\]"):
        call_command("consortium_key_retire", "--key-version", "1", "--reason", "oops", stdout=StringIO())
    with pytest.raises(CommandError, match=r"\[unknown_key_version\]"):
        call_command("consortium_key_retire", "--key-version", "9", "--reason", "x", stdout=StringIO())
    assert ConsortiumKey.objects.get().state == "current"
