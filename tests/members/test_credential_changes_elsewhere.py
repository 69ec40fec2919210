"""A credential or an institution changed by another session takes effect at this server's next request.

These run with committed data (``transaction=True``): the change is committed on another database
connection, as by another server process, an operator's admin or SQL, while this one stays open.
"""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.conftest import issue
from tests.factories import InstitutionFactory

ME = "/api/v1/me"

pytestmark = pytest.mark.django_db(transaction=True)


def key_reads(member, path=ME) -> tuple[int, int]:
    """The response's status, and how many statements read a credential by its key."""
    with CaptureQueriesContext(connection) as queries:
        response = member.client().get(path)
    return response.status_code, sum("WHERE c.digest = " in query["sql"] for query in queries.captured_queries)


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


def test_every_request_reads_its_key(member):
    assert key_reads(member) == (200, 1)
    assert key_reads(member) == (200, 1)


def test_a_key_revoked_by_another_session_is_refused_at_the_next_request(member):
    assert key_reads(member) == (200, 1)
    commit_elsewhere(
        "UPDATE members_credential SET revoked_at = now(), revoked_reason = 'leaked' WHERE id = %s",
        [member.credential.pk],
    )
    assert key_reads(member) == (401, 1)


def test_an_institution_suspended_by_another_session_is_refused_at_the_next_request(member):
    assert key_reads(member) == (200, 1)
    commit_elsewhere("UPDATE members_institution SET status = 'suspended' WHERE id = %s", [member.institution.pk])
    assert key_reads(member) == (403, 1)


def test_a_change_to_the_scopes_by_another_session_is_seen_at_the_next_request(member):
    assert key_reads(member, "/api/v1/lookups/1") == (404, 1)
    commit_elsewhere("UPDATE members_credential SET scopes = '{records:write}' WHERE id = %s", [member.credential.pk])
    assert key_reads(member, "/api/v1/lookups/1") == (403, 1)
