"""The automation commands: scriptable, non-interactive, non-zero with a message on error."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from members.models import AuditEvent, Credential, Institution
from tests.factories import InstitutionFactory, make_uscc


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_member_create_and_activate(db):
    uscc = make_uscc(777)
    run(
        "member_create",
        "--name",
        "测试银行",
        "--uscc",
        uscc,
        "--kind",
        "bank",
        "--licence-number",
        "B0001",
        "--licence-expiry",
        "2099-12-31",
        "--activate",
    )
    institution = Institution.objects.get(uscc=uscc)
    assert institution.status == Institution.Status.ACTIVE
    assert list(institution.transitions.order_by("created_at", "id").values_list("to_status", flat=True)) == [
        "under_review",
        "active",
    ]
    assert AuditEvent.objects.filter(object_id=str(institution.pk), actor_type="system").count() == 3


@pytest.mark.parametrize(
    "args,message",
    [
        (["--uscc", "12345"], r"\[bad_length\]"),
        (["--uscc", make_uscc(778), "--activate"], r"\[licence_required\]"),
    ],
)
def test_member_create_errors(db, args, message):
    with pytest.raises(CommandError, match=message):
        run("member_create", "--name", "X", "--kind", "bank", *args)


def test_member_create_refuses_duplicate(db):
    institution = InstitutionFactory()
    with pytest.raises(CommandError, match=r"\[uscc_taken\]"):
        run("member_create", "--name", "X", "--kind", "bank", "--uscc", institution.uscc)


def test_member_status(db):
    institution = InstitutionFactory(status=Institution.Status.ACTIVE)
    out = run("member_status", "--uscc", institution.uscc, "--to", "suspended", "--reason", "late reporting")
    assert "active -> suspended" in out
    institution.refresh_from_db()
    assert institution.status == "suspended"
    with pytest.raises(CommandError, match=r"\[illegal_transition\]"):
        run("member_status", "--uscc", institution.uscc, "--to", "under_review", "--reason", "x")
    with pytest.raises(CommandError, match="91110000MA0000999"):
        run("member_status", "--uscc", make_uscc(999), "--to", "active", "--reason", "x")


def test_credential_issue_prints_a_working_key_last(db):
    institution = InstitutionFactory()
    out = run(
        "credential_issue",
        "--uscc",
        institution.uscc,
        "--scopes",
        "records:write,lookups",
        "--allowed-ips",
        "127.0.0.1/32",
        "--expires-days",
        "30",
    )
    key = out.strip().splitlines()[-1]
    assert key.startswith("rsk_")
    credential = Credential.objects.get(institution=institution)
    assert credential.scopes == ["lookups", "records:write"]
    assert credential.allowed_ips == ["127.0.0.1/32"]
    assert credential.expires_at is not None
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    assert client.get("/api/v1/me").status_code == 200


@pytest.mark.parametrize(
    "args,message",
    [
        (["--scopes", "records:write,admin"], r"\[unknown_scope\]"),
        (["--scopes", ""], r"\[scopes_required\]"),
        (["--scopes", "lookups", "--allowed-ips", "10.0.0.300/8"], r"\[bad_network\]"),
        (["--scopes", "lookups", "--expires-days", "0"], "--expires-days"),
    ],
)
def test_credential_issue_errors(db, args, message):
    institution = InstitutionFactory()
    with pytest.raises(CommandError, match=message):
        run("credential_issue", "--uscc", institution.uscc, *args)
    assert not Credential.objects.exists()


def test_credential_revoke(member_a):
    prefix = member_a.credential.prefix
    run("credential_revoke", "--prefix", prefix, "--reason", "rotated")
    member_a.credential.refresh_from_db()
    assert member_a.credential.revoked_reason == "rotated"
    assert member_a.client().get("/api/v1/me").status_code == 401
    with pytest.raises(CommandError, match=r"\[already_revoked\]"):
        run("credential_revoke", "--prefix", prefix, "--reason", "again")
    with pytest.raises(CommandError, match="rsk_000000000000"):
        run("credential_revoke", "--prefix", "rsk_000000000000", "--reason", "x")
