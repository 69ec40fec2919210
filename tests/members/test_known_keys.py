"""API keys read once per database connection, forgotten when PostgreSQL says credentials changed.

These run with committed data (``transaction=True``): notifications are sent at commit, and
inside a transaction authentication reads the key every time.
"""

from __future__ import annotations

import select

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from members.audit import Actor
from members.models import Institution
from members.services import credential_revoke, institution_transition
from tests.conftest import issue
from tests.factories import InstitutionFactory

ME = "/api/v1/me"

pytestmark = pytest.mark.django_db(transaction=True)


def key_reads(member, path=ME) -> tuple[int, int]:
    """The response's status, and how many statements read a credential by its key."""
    with CaptureQueriesContext(connection) as queries:
        response = member.client().get(path)
    return response.status_code, sum("WHERE c.digest = " in query["sql"] for query in queries.captured_queries)


def notification_arrived() -> None:
    """Wait until PostgreSQL has sent something on this connection, as it does after a change elsewhere."""
    readable, _, _ = select.select([connection.connection.fileno()], [], [], 5)
    assert readable, "no notification arrived within 5 s"


def commit_elsewhere(sql: str, params: list) -> None:
    """A change committed by another session, as by another server process or an operator's admin."""
    other = connection.copy()
    try:
        with other.cursor() as cursor:
            cursor.execute(sql, params)
    finally:
        other.close()


@pytest.fixture
def member():
    return issue(InstitutionFactory(name="Member K"))


def test_a_key_is_read_once_per_connection(member):
    assert key_reads(member) == (200, 1)
    assert key_reads(member) == (200, 0)
    assert key_reads(member) == (200, 0)


def test_an_unknown_key_is_read_every_time(member):
    member.key = member.key[:-1] + ("A" if member.key[-1] != "A" else "B")
    assert key_reads(member) == (401, 1)
    assert key_reads(member) == (401, 1)


def test_a_key_revoked_by_another_session_is_refused_at_the_next_request(member):
    assert key_reads(member) == (200, 1)
    commit_elsewhere(
        "UPDATE members_credential SET revoked_at = now(), revoked_reason = 'leaked' WHERE id = %s",
        [member.credential.pk],
    )
    notification_arrived()
    assert key_reads(member) == (401, 1)


def test_an_institution_suspended_by_another_session_is_refused_at_the_next_request(member):
    assert key_reads(member) == (200, 1)
    commit_elsewhere("UPDATE members_institution SET status = 'suspended' WHERE id = %s", [member.institution.pk])
    notification_arrived()
    assert key_reads(member) == (403, 1)


def test_a_change_to_the_scopes_is_seen_at_the_next_request(member):
    assert key_reads(member, "/api/v1/lookups/1") == (404, 1)
    commit_elsewhere("UPDATE members_credential SET scopes = '{records:write}' WHERE id = %s", [member.credential.pk])
    notification_arrived()
    assert key_reads(member, "/api/v1/lookups/1") == (403, 1)


def test_a_revocation_through_this_connection_is_seen_at_once(member):
    assert key_reads(member) == (200, 1)
    credential_revoke(actor=Actor.system("tests"), credential=member.credential, reason="leaked")
    assert key_reads(member) == (401, 1)


def test_a_suspension_through_this_connection_is_seen_at_once(member):
    assert key_reads(member) == (200, 1)
    institution_transition(
        actor=Actor.system("tests"), institution=member.institution, to_status=Institution.Status.SUSPENDED, reason="x"
    )
    assert key_reads(member) == (403, 1)


def test_another_members_change_makes_every_key_read_again(member):
    other = issue(InstitutionFactory(name="Member L"))
    assert key_reads(member) == (200, 1)
    assert key_reads(other) == (200, 1)
    commit_elsewhere("UPDATE members_institution SET contact_name = 'new' WHERE id = %s", [other.institution.pk])
    notification_arrived()
    assert key_reads(member) == (200, 1)
    assert key_reads(member) == (200, 0)


def test_a_new_connection_starts_with_nothing_known(member):
    assert key_reads(member) == (200, 1)
    connection.close()
    assert key_reads(member) == (200, 1)
    assert key_reads(member) == (200, 0)
