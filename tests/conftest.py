from __future__ import annotations

from dataclasses import dataclass

import pytest
from rest_framework.test import APIClient

from members.audit import Actor
from members.models import Credential, Institution
from members.services import credential_issue
from tests.factories import InstitutionFactory, OperatorFactory

ALL_SCOPES = Credential.Scope.values


@dataclass
class Member:
    institution: Institution
    credential: Credential
    key: str

    def client(self, **extra) -> APIClient:
        client = APIClient(**extra)
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {self.key}")
        return client


def issue(institution: Institution, scopes=ALL_SCOPES, **kwargs) -> Member:
    issued = credential_issue(
        actor=Actor.system("tests"), institution=institution, name="test", scopes=scopes, **kwargs
    )
    return Member(institution, issued.credential, issued.key)


@pytest.fixture
def member_a(db) -> Member:
    return issue(InstitutionFactory(name="Member A"))


@pytest.fixture
def member_b(db) -> Member:
    return issue(InstitutionFactory(name="Member B"))


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


@pytest.fixture
def operator(db):
    return OperatorFactory(groups=["reviewer", "credential_admin", "auditor"])


@pytest.fixture
def admin_client_for(client):
    def login(user):
        client.force_login(user)
        return client

    return login


@pytest.fixture(autouse=True)
def _plain_http(settings):
    # In production mode HTTP is redirected to HTTPS (tested on its own in
    # tests/test_api_plumbing.py); the test client speaks plain HTTP.
    settings.SECURE_SSL_REDIRECT = False
