"""The 401/403 matrix of member API keys, and that keys are never stored in plaintext."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.utils import timezone

from members.audit import Actor
from members.models import Credential, Institution
from members.selectors import credential_by_key
from members.services import credential_revoke
from tests.conftest import issue
from tests.factories import InstitutionFactory

ME = "/api/v1/me"


def assert_problem(response, status: int, code: str) -> None:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status
    assert body["code"] == code
    assert body["type"] == f"urn:riskshare:problem:{code}"
    assert body["title"] and body["detail"]


def test_valid_key_identifies_member(member_a):
    response = member_a.client().get(ME)
    assert response.status_code == 200
    body = response.json()
    assert body["uscc"] == member_a.institution.uscc
    assert body["credential_prefix"] == member_a.credential.prefix
    assert member_a.key not in response.content.decode()


def test_missing_header_is_401_with_challenge(api_client, db):
    response = api_client.get(ME)
    assert_problem(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("header", ["Bearer", "Bearer a b", "Basic dXNlcjpwYXNz"])
def test_malformed_or_foreign_scheme_is_401(api_client, db, header):
    api_client.credentials(HTTP_AUTHORIZATION=header)
    response = api_client.get(ME)
    assert response.status_code == 401


def test_unknown_key_is_401(api_client, member_a):
    tampered = member_a.key[:-4] + ("AAAA" if not member_a.key.endswith("AAAA") else "BBBB")
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {tampered}")
    assert_problem(api_client.get(ME), 401, "invalid_credential")


def test_revoked_key_is_401(member_a):
    credential_revoke(actor=Actor.system("tests"), credential=member_a.credential, reason="leaked")
    assert_problem(member_a.client().get(ME), 401, "invalid_credential")


def test_expired_key_is_401(member_a):
    member = issue(member_a.institution, expires_at=timezone.now() + dt.timedelta(seconds=1))
    type(member.credential).objects.filter(pk=member.credential.pk).update(
        expires_at=timezone.now() - dt.timedelta(seconds=1)
    )
    assert_problem(member.client().get(ME), 401, "invalid_credential")


@pytest.mark.parametrize(
    "status",
    [
        Institution.Status.APPLICANT,
        Institution.Status.UNDER_REVIEW,
        Institution.Status.SUSPENDED,
        Institution.Status.WITHDRAWN,
    ],
)
def test_member_not_active_is_403(db, status):
    institution = InstitutionFactory(status=Institution.Status.ACTIVE)
    member = issue(institution)
    Institution.objects.filter(pk=institution.pk).update(status=status)
    assert_problem(member.client().get(ME), 403, "member_not_active")


def test_address_outside_allow_list_is_403(db):
    member = issue(InstitutionFactory(), allowed_ips=["192.0.2.0/24", "2001:db8::/32"])
    assert_problem(member.client(REMOTE_ADDR="198.51.100.7").get(ME), 403, "address_not_allowed")
    assert member.client(REMOTE_ADDR="192.0.2.77").get(ME).status_code == 200
    assert member.client(REMOTE_ADDR="2001:db8::1").get(ME).status_code == 200


@pytest.mark.urls("tests.urls_probe")
def test_missing_scope_is_403(db):
    member = issue(InstitutionFactory(), scopes=["reports:read"])
    response = member.client().post("/probe", {"purpose": "credit_application", "items": []}, format="json")
    assert_problem(response, 403, "missing_scope")
    allowed = issue(member.institution, scopes=["lookups"])
    response = allowed.client().post("/probe", {"purpose": "credit_application", "items": []}, format="json")
    assert response.status_code == 200


def test_last_used_is_recorded_at_most_once_a_minute(member_a, django_assert_num_queries):
    assert member_a.credential.last_used_at is None
    member_a.client().get(ME)
    member_a.credential.refresh_from_db()
    first = member_a.credential.last_used_at
    assert first is not None
    # A second call within the interval reads the credential and writes nothing (the second read:
    # the remaining lookup quota that /me shows).
    with django_assert_num_queries(2):
        member_a.client().get(ME)
    member_a.credential.refresh_from_db()
    assert member_a.credential.last_used_at == first


def test_the_key_lookup_loads_the_same_credential_and_institution_as_the_orm(member_a):
    credential = credential_by_key(key=member_a.key)
    expected = Credential.objects.select_related("institution").get(pk=member_a.credential.pk)

    def values(obj):
        return {field.attname: getattr(obj, field.attname) for field in type(obj)._meta.concrete_fields}

    assert values(credential) == values(expected)
    assert values(credential.institution) == values(expected.institution)
    assert credential_by_key(key=member_a.key[:-1] + ("A" if member_a.key[-1] != "A" else "B")) is None


def test_no_key_is_stored_in_plaintext_anywhere(member_a, member_b):
    member_a.client().get(ME)
    # The whole key, and its secret part alone (after "rsk_<public part>_").
    secrets = [member_a.key, member_b.key]
    secrets += [m.key[len(m.credential.prefix) + 1 :] for m in (member_a, member_b)]
    assert all(len(secret) >= 40 for secret in secrets)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = 'public' AND table_type = 'BASE TABLE'"
        )
        tables = [row[0] for row in cursor.fetchall()]
        assert "members_credential" in tables and "members_auditevent" in tables
        for table in tables:
            for secret in secrets:
                cursor.execute(
                    f'SELECT count(*) FROM "{table}" t WHERE strpos(t::text, %s) > 0',  # noqa: S608 - names from the catalogue
                    [secret],
                )
                assert cursor.fetchone()[0] == 0, f"key material found in {table}"
