from __future__ import annotations

import re
from io import StringIO
from pathlib import Path

import pytest
from django.apps import apps
from django.core.management import CommandError, call_command
from django.test import Client
from rest_framework.test import APIClient

from members.models import Credential, Institution


def quickstart() -> str:
    out = StringIO()
    call_command("quickstart", "--no-serve", stdout=out)
    return out.getvalue()


def test_quickstart_sets_up_two_working_demo_members(db, settings, tmp_path):
    settings.DEBUG = True
    settings.VAR_DIR = tmp_path
    out = quickstart()
    keys = re.findall(r"rsk_[0-9a-f]{12}_[A-Za-z0-9_-]{43}", out)
    assert len(set(keys)) == 2
    assert Institution.objects.filter(status="active").count() == 2
    for key in keys:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
        assert client.get("/api/v1/me").status_code == 200
    # A first consortium key version is registered and its file written, so tokenizing works at once.
    key_file = Path(re.search(r"Consortium key \(for tokenizing\): (\S+)", out).group(1))
    assert key_file.is_file()
    assert apps.get_model("sharing", "ConsortiumKey").objects.filter(state="current").count() == 1
    password = re.search(r"password '([^']+)'", out).group(1)
    # Through the admin's login form, as the operator would (django-axes needs the request).
    web = Client()
    response = web.post("/admin/login/", {"username": "operator", "password": password, "next": "/admin/"})
    assert response.status_code == 302 and response["Location"] == "/admin/"
    assert web.get("/admin/").status_code == 200

    # Running it again replaces the demo keys instead of piling them up.
    again = re.findall(r"rsk_[0-9a-f]{12}_[A-Za-z0-9_-]{43}", quickstart())
    assert set(again).isdisjoint(keys)
    assert Credential.objects.filter(revoked_at__isnull=True).count() == 2
    assert Institution.objects.count() == 2
    assert apps.get_model("sharing", "ConsortiumKey").objects.count() == 1  # the key is kept


def test_quickstart_refuses_production(db, settings):
    settings.DEBUG = False
    with pytest.raises(CommandError):
        quickstart()


def test_quickstart_on_a_busy_port_changes_nothing(db, settings, tmp_path):
    import socket

    settings.DEBUG = True
    settings.VAR_DIR = tmp_path
    out = quickstart()
    keys = set(re.findall(r"rsk_[0-9a-f]{12}_[A-Za-z0-9_-]{43}", out))
    assert "manage.py runserver 127.0.0.1:8000" in out  # how to serve again without new keys
    user = apps.get_model("auth", "User").objects.get(username="operator")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(CommandError, match="nothing was changed"):
            call_command("quickstart", f"--addrport=127.0.0.1:{port}", stdout=StringIO())
    assert Credential.objects.filter(revoked_at__isnull=True).count() == 2
    assert {c.prefix for c in Credential.objects.filter(revoked_at__isnull=True)} == {k[:16] for k in keys}
    assert apps.get_model("auth", "User").objects.get(username="operator").password == user.password
