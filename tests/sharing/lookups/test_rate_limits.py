"""Per-credential limits a minute on batches, listings, alerts and disputes: exact, and 429 with Retry-After."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection
from django.utils import timezone

from sharing.lookups.quotas import rate_limit_consume
from sharing.models import Batch
from tests.conftest import issue
from tests.sharing.conftest import blacklist, lookup, new_token, submit

LIMITS = {"batches": 2, "listings": 2, "alerts": 2, "disputes": 2}


@pytest.fixture
def limits(settings, fresh_minute):
    settings.RISKSHARE_RATE_LIMITS = dict(LIMITS)
    return settings.RISKSHARE_RATE_LIMITS


def test_batches_beyond_the_limit_answer_429_and_write_nothing(member_a, key_v1, limits):
    statuses = [submit(member_a, [blacklist()]).status_code for _ in range(2)]
    refused = submit(member_a, [blacklist()])
    assert statuses == [202, 202]
    assert refused.status_code == 429
    assert refused["Content-Type"] == "application/problem+json"
    assert refused.json()["code"] == "throttled"
    assert 1 <= int(refused["Retry-After"]) <= 60
    assert Batch.objects.count() == 2


@pytest.mark.parametrize(
    ("scope", "path"),
    [("listings", "/api/v1/records"), ("alerts", "/api/v1/alerts"), ("disputes", "/api/v1/disputes")],
)
def test_each_scope_counts_per_credential(member_a, key_v1, limits, scope, path):
    other_key = issue(member_a.institution)
    client = member_a.client()
    assert [client.get(path).status_code for _ in range(3)] == [200, 200, 429]
    assert other_key.client().get(path).status_code == 200  # per key, not per member
    # The other scopes and lookups keep their own counts.
    assert submit(member_a, [blacklist()]).status_code == 202
    assert lookup(member_a, [new_token()]).status_code == 200


@pytest.mark.django_db(transaction=True)
def test_concurrent_requests_cannot_over_admit(member_a, settings):
    settings.RISKSHARE_RATE_LIMITS = {**LIMITS, "batches": 5}
    now = timezone.now()

    def one(_n: int) -> bool:
        try:
            return rate_limit_consume(credential_id=member_a.credential.pk, scope="batches", now=now) is None
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=10) as pool:
        admitted = list(pool.map(one, range(30)))
    assert admitted.count(True) == 5


def test_the_schema_documents_the_429_of_every_limited_operation():
    from drf_spectacular.generators import SchemaGenerator

    paths = SchemaGenerator().get_schema(request=None, public=True)["paths"]
    assert "429" in paths["/api/v1/batches"]["post"]["responses"]
    assert "Retry-After" in paths["/api/v1/alerts"]["get"]["responses"]["429"]["headers"]
    assert "429" not in paths["/healthz"]["get"]["responses"]
