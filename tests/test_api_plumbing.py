"""One error format for the whole API, health probes, and production start-up rules."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from django.conf import settings

from core.api import flatten_validation_errors
from tests.conftest import database_url_of_test_database
from tests.environment import production_secrets


def test_healthz(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_checks_database(client, db, settings):
    settings.CELERY_BROKER_URL = ""
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["checks"] == {"database": "ok"}


def test_readyz_reports_unreachable_broker(client, db, settings):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "checks": {"database": "ok", "broker": "unavailable"}}


def test_readyz_with_reachable_broker(client, db, settings):
    settings.CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL") or "redis://127.0.0.1:6379/0"
    response = client.get("/readyz")
    assert response.json()["checks"]["broker"] == "ok"
    assert response.status_code == 200


@pytest.mark.parametrize("path", ["/nope", "/api/v1/nothing-here", "/api/v2/me"])
def test_unknown_route_is_a_problem_document(client, db, path):
    response = client.get(path)
    assert response.status_code == 404
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "not_found"


def test_post_to_a_malformed_api_path_is_a_problem_document_not_a_csrf_page(db):
    from django.test import Client

    response = Client(enforce_csrf_checks=True).post("/api/v1/alerts/null,null/ack")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/problem+json"


def test_unknown_method_is_a_problem_document(client, member_a):
    response = member_a.client().delete("/api/v1/me")
    assert response.status_code == 405
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "method_not_allowed"


@pytest.mark.urls("tests.urls_probe")
def test_validation_errors_carry_json_pointers_and_codes(member_a):
    response = member_a.client().post(
        "/probe", {"purpose": "gossip", "items": [{"token": "0" * 64}, {"token": "XYZ"}]}, format="json"
    )
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "validation_error"
    assert {(e["field"], e["code"]) for e in body["errors"]} == {
        ("/purpose", "invalid_choice"),
        ("/items/1/token", "invalid"),
    }
    assert all(e["message"] for e in body["errors"])


@pytest.mark.urls("tests.urls_probe")
def test_malformed_json_is_400_problem(member_a):
    response = member_a.client().generic("POST", "/probe", "{not json", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["code"] == "parse_error"


@pytest.mark.urls("tests.urls_probe")
def test_unexpected_error_is_500_without_traceback(member_a, caplog):
    response = member_a.client().get("/crash")
    assert response.status_code == 500
    body = response.json()
    assert body["code"] == "server_error"
    assert "secret internal detail" not in response.content.decode()
    assert "Traceback" not in response.content.decode()
    assert "secret internal detail" in caplog.text


def test_error_messages_follow_accept_language(client, db):
    zh = client.get("/api/v1/me", HTTP_ACCEPT_LANGUAGE="zh-hans").json()
    en = client.get("/api/v1/me", HTTP_ACCEPT_LANGUAGE="en").json()
    assert zh["code"] == en["code"] == "not_authenticated"
    assert zh["title"] != en["title"]


def test_pointer_escaping():
    from rest_framework.exceptions import ErrorDetail

    errors = list(flatten_validation_errors({"a/b": {"c~d": [ErrorDetail("bad", code="x")]}}))
    assert errors == [{"field": "/a~1b/c~0d", "code": "x", "message": "bad"}]


def test_api_times_are_utc(member_a):
    from django.utils import timezone

    member_a.credential.expires_at = timezone.now()
    type(member_a.credential).objects.filter(pk=member_a.credential.pk).update(
        expires_at=timezone.now() + timezone.timedelta(days=1)
    )
    body = member_a.client().get("/api/v1/me").json()
    assert body["expires_at"].endswith("Z")


def _run_django(env_overrides: dict[str, str | None], *args: str) -> subprocess.CompletedProcess:
    secrets = {"SECRET_KEY", "RISKSHARE_PEPPER", "RISKSHARE_REPORT_SIGNING_KEY", "RISKSHARE_LOG_SIGNING_KEY", "DEBUG"}
    env = {k: v for k, v in os.environ.items() if k not in secrets}
    env["DATABASE_URL"] = env.get("DATABASE_URL") or database_url_of_test_database()
    for key, value in env_overrides.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return subprocess.run(  # noqa: S603 - our own interpreter and manage.py
        [sys.executable, "manage.py", *args],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _report_key_pem() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    return (
        Ed25519PrivateKey.generate()
        .private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        .decode()
    )


@pytest.mark.parametrize(
    "missing", ["SECRET_KEY", "RISKSHARE_PEPPER", "RISKSHARE_REPORT_SIGNING_KEY", "RISKSHARE_LOG_SIGNING_KEY"]
)
def test_production_refuses_to_start_without_secrets(missing):
    env = {
        "SECRET_KEY": "x" * 60,
        "RISKSHARE_PEPPER": "p" * 40,
        "RISKSHARE_REPORT_SIGNING_KEY": _report_key_pem(),
        "RISKSHARE_LOG_SIGNING_KEY": _report_key_pem(),
        missing: None,
    }
    result = _run_django(env, "check")
    assert result.returncode != 0
    assert f"{missing} is not set" in result.stderr
    assert "Traceback" not in result.stderr.splitlines()[-1]


def test_check_deploy_passes_in_production_mode():
    env = {
        "SECRET_KEY": "a-long-random-production-secret-key-" + "k" * 40,
        "RISKSHARE_PEPPER": "p" * 40,
        "RISKSHARE_REPORT_SIGNING_KEY": _report_key_pem(),
        "RISKSHARE_LOG_SIGNING_KEY": _report_key_pem(),
        "ALLOWED_HOSTS": "riskshare.internal",
    }
    result = _run_django(env, "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stdout + result.stderr


def test_production_refuses_an_unreadable_report_key_path(tmp_path):
    env = {"SECRET_KEY": "x" * 60, "RISKSHARE_PEPPER": "p" * 40, "RISKSHARE_REPORT_SIGNING_KEY": str(tmp_path / "no")}
    result = _run_django(env, "check")
    assert result.returncode != 0 and "RISKSHARE_REPORT_SIGNING_KEY must be" in result.stderr


def test_production_refuses_an_unreadable_log_key_path(tmp_path):
    env = {
        "SECRET_KEY": "x" * 60,
        "RISKSHARE_PEPPER": "p" * 40,
        "RISKSHARE_REPORT_SIGNING_KEY": _report_key_pem(),
        "RISKSHARE_LOG_SIGNING_KEY": str(tmp_path / "no"),
    }
    result = _run_django(env, "check")
    assert result.returncode != 0 and "RISKSHARE_LOG_SIGNING_KEY must be" in result.stderr


def test_http_is_redirected_to_https_except_probes(client, db, settings):
    settings.SECURE_SSL_REDIRECT = True
    assert client.get("/api/v1/me").status_code == 301
    assert client.get("/healthz").status_code == 200
    assert client.get("/api/v1/me", secure=True).status_code == 401


def test_jobs_are_enqueued_by_name_in_a_process_that_never_imported_the_tasks():
    # A web process (gunicorn) imports no tasks module before its first request enqueues a job.
    import subprocess
    import sys

    from django.conf import settings

    code = (
        "import django, os; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'config.settings'); django.setup()\n"
        "from unittest import mock\n"
        "from celery import current_app\n"
        "from core.jobs import job_enqueue\n"
        "with mock.patch('celery.app.base.Celery.send_task') as sent, "
        "mock.patch('celery.app.task.Task.apply_async') as ran:\n"
        "    assert job_enqueue('sharing.batch_process', 1)\n"
        "    assert sent.call_args.args[0] == 'sharing.batch_process' if sent.called else ran.called\n"
    )
    # A web process of its own: with DATABASE_URL inherited it starts in production mode.
    env = {**os.environ, **production_secrets()}
    subprocess.run([sys.executable, "-c", code], cwd=settings.BASE_DIR, env=env, check=True)  # noqa: S603
