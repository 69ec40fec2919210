from __future__ import annotations

import datetime as dt
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import time_machine
from django.utils import timezone
from rest_framework.test import APIClient
from rest_framework.views import APIView

from members.audit import Actor
from members.models import Credential, Institution
from members.services import credential_issue
from tests.factories import InstitutionFactory, OperatorFactory
from tests.openapi import documented_codes

# The celery_worker fixture (a real worker subprocess on Redis).
pytest_plugins = ["tests.worker"]

ALL_SCOPES = Credential.Scope.values


@dataclass
class Member:
    institution: Institution
    credential: Credential
    key: str

    def client(self, **extra) -> APIClient:
        client = APIClient(**extra)
        # One request id for every test request: answers that must be identical (another member's
        # object and a missing one) then are, request_id included (tests/test_observability.py
        # checks the ids themselves).
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {self.key}", HTTP_X_REQUEST_ID="test-request")
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
def fresh_minute():
    """Run from five seconds into the next calendar minute, the clock running.

    Per-minute limits count calendar minutes: a test that crossed a minute's end would see its count
    start again and miss the 429 it expects.
    """
    start = timezone.now().replace(second=5, microsecond=0) + dt.timedelta(minutes=1)
    with time_machine.travel(start, tick=True):
        yield start


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


@pytest.fixture(scope="session")
def django_db_keepdb(request, django_db_keepdb):
    """On a Citus coordinator (tests/citus.py) the test database is made on every node first and kept for
    Django to migrate; elsewhere pytest-django's choice (``--reuse-db``) stands."""
    import os

    from django.conf import settings

    from tests.citus import citus_workers, cluster_database_create, cluster_database_drop

    url = os.environ.get("DATABASE_URL", "")
    workers = citus_workers(url) if url else None
    if workers is None:
        yield django_db_keepdb
        return
    database = settings.DATABASES["default"]
    name = database.get("TEST", {}).get("NAME") or f"test_{database['NAME']}"
    cluster_database_create(url, name, workers)
    # pytest-django runs each test in one transaction, which the platform never does: a request or a job is
    # a transaction of its own. In that one transaction Citus's parallel mode opens a further connection to a
    # worker whose earlier connection holds the locks of the shards the test wrote, for instance to make the
    # shards of a month (core.partitions) a time-travelling test needs, and cancels its own transaction as a
    # distributed deadlock. Sequential mode keeps one connection per worker. Only this process's sessions:
    # the servers and workers that tests start run their own transactions in Citus's default parallel mode,
    # and tests/test_citus_locks.py sets parallel mode where that is what it holds.
    from django.db import connections

    options = connections["default"].settings_dict.setdefault("OPTIONS", {})
    options["options"] = f"{options.get('options', '')} -c citus.multi_shard_modify_mode=sequential".strip()
    yield True
    if not django_db_keepdb:
        from django.db import connections

        connections.close_all()
        cluster_database_drop(url, name, workers)


def database_url_of_test_database() -> str:
    """A DATABASE_URL naming the database this test session runs on (for subprocesses)."""
    from django.conf import settings

    db = settings.DATABASES["default"]
    host = db.get("HOST") or db.get("OPTIONS", {}).get("host", "")
    if host.startswith("/"):
        return f"postgresql://{db['USER']}@/{db['NAME']}?host={host}"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return f"postgresql://{db['USER']}{password}@{host}:{db.get('PORT') or 5432}/{db['NAME']}"


@pytest.fixture(autouse=True)
def _empty_cache():
    # Key-version states are cached per process; each test starts clean.
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def _tasks_in_process():
    # Jobs run in-process unless a test asks for the real worker (tests/worker.py).
    from config.celery import app

    before = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = before


@pytest.fixture(scope="session", autouse=True)
def _plain_http_for_the_live_server():
    # The live server builds its middleware once, before any per-test setting applies.
    from django.conf import settings

    settings.SECURE_SSL_REDIRECT = False


@pytest.fixture(autouse=True)
def _plain_http(settings):
    # In production mode HTTP is redirected to HTTPS (tested on its own in
    # tests/test_api_plumbing.py); the test client speaks plain HTTP.
    settings.SECURE_SSL_REDIRECT = False


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    # Lets fixtures see whether the test failed (tests/worker.py prints the worker's log then).
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix):
    # Live-server request threads must not keep connections open past the request, or the
    # test database cannot be dropped at the end of the session.
    from django.db import connections

    connections["default"].settings_dict["CONN_MAX_AGE"] = 0


@pytest.fixture(autouse=True)
def problems_answered_are_documented(monkeypatch):
    """Every problem an operation answers in a test is one its OpenAPI document lists (core/openapi.py).

    The whole suite is the evidence: a code added to a service without documenting it fails the test
    that first provokes it.
    """
    answered: list[tuple[str, str, int, str]] = []
    finalize = APIView.finalize_response

    def recording(view, request, response, *args, **kwargs):
        response = finalize(view, request, response, *args, **kwargs)
        data = getattr(response, "data", None)
        match = getattr(request, "resolver_match", None)
        if response.status_code >= 400 and isinstance(data, dict) and "code" in data and match:
            answered.append((match.route, request.method, response.status_code, data["code"]))
        return response

    monkeypatch.setattr(APIView, "finalize_response", recording)
    yield
    undocumented = []
    for route, method, status, code in answered:
        codes = documented_codes(route, method, status)
        if codes is not None and code not in codes:
            undocumented.append(f"{method} /{route} answered {status} {code}")
    assert not undocumented, f"answered but not in the OpenAPI document: {sorted(set(undocumented))}"


@dataclass
class TokenEvaluator:
    socket: Path
    seed_file: Path
    process: subprocess.Popen

    def seed(self, version: int) -> bytes:
        from sharing.tokens.evaluator import seeds_read

        return seeds_read(self.seed_file)[version]


@pytest.fixture(scope="session")
def token_evaluator(tmp_path_factory):
    """The token evaluator as production runs it: its own process, its seeds in its own file, a Unix socket."""
    from django.conf import settings

    folder = tmp_path_factory.mktemp("evaluator")
    socket_path, seed_file = folder / "evaluator.sock", folder / "seeds.json"
    process = subprocess.Popen(  # noqa: S603 - the project's own module
        [sys.executable, "-m", "sharing.tokens.evaluator", "--socket", str(socket_path), "--seed-file", str(seed_file)],
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 20
    while not socket_path.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("the token evaluator did not start")
        time.sleep(0.05)
    before = settings.RISKSHARE_EVALUATOR_SOCKET
    settings.RISKSHARE_EVALUATOR_SOCKET = str(socket_path)
    yield TokenEvaluator(socket_path, seed_file, process)
    settings.RISKSHARE_EVALUATOR_SOCKET = before
    process.terminate()
    process.wait(10)


@pytest.fixture
def key_v2(db, token_evaluator):
    """Key version 2 under the v2 scheme, beside a v1 key version 1."""
    from sharing.tokens.models import ConsortiumKey
    from sharing.tokens.services import voprf_key_create

    ConsortiumKey.objects.get_or_create(version=1, defaults={"check_value": "0" * 16, "created_by": "tests"})
    return voprf_key_create(actor=Actor.system("tests"))
