"""Schemathesis against the running API with both members' keys: no 5xx, no answer that contradicts the schema.

Two checks are left out on purpose: `positive_data_acceptance` (the schema cannot
say that a key version must be current, a date not in the future, or a category
belong to its kind, so schema-valid requests are rightly refused) and
`negative_data_rejection` (POST /batches answers 202 and lists invalid records
one by one — the documented contract — instead of refusing the whole batch).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from sharing.models import ConsortiumKey

pytestmark = pytest.mark.django_db(transaction=True)


def test_no_server_errors_and_answers_match_the_schema(live_server, member_a, member_b):
    ConsortiumKey.objects.create(version=1, check_value="0" * 16, created_by="tests")
    st = shutil.which("st") or str(Path(sys.executable).with_name("st"))
    for member in (member_a, member_b):
        result = subprocess.run(  # noqa: S603 - the project's own dev tool against its own server
            [
                st,
                "run",
                f"{live_server.url}/api/v1/schema/",
                "-H",
                f"Authorization: Bearer {member.key}",
                "--checks",
                "all",
                "--exclude-checks",
                "positive_data_acceptance,negative_data_rejection",
                "--max-examples",
                "12",
                "--generation-deterministic",
                "--request-timeout",
                "30",
            ],
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert result.returncode == 0, result.stdout[-6000:]
