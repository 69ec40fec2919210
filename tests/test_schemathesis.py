"""Schemathesis against the running API: every check, no 5xx, no answer that contradicts the schema.

Every check runs (``--checks all``), positive and negative data alike, with the expected statuses of
``tests/schemathesis.toml`` where a refusal depends on what no schema can say (a current key
version, an opaque cursor, a date not in the future). Here it runs small, in the suite's time: the
fuzzing and stateful phases with a few examples for one member, the documented examples for the
other. The long run that finds more (the coverage phase too, 30 examples an operation, minutes)::

    uv run st --config-file tests/schemathesis.toml run http://127.0.0.1:8000/api/v1/schema/ \\
        -H "Authorization: Bearer $KEY" --checks all --max-examples 30 --generation-deterministic
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.django_db(transaction=True)

CONFIG = Path(__file__).with_name("schemathesis.toml")


def _run(live_server, member, *options: str) -> subprocess.CompletedProcess:
    st = shutil.which("st") or str(Path(sys.executable).with_name("st"))
    return subprocess.run(  # noqa: S603 - the project's own dev tool against its own server
        [
            st,
            "--config-file",
            str(CONFIG),
            "run",
            f"{live_server.url}/api/v1/schema/",
            "-H",
            f"Authorization: Bearer {member.key}",
            "--checks",
            "all",
            "--generation-deterministic",
            "--request-timeout",
            "30",
            *options,
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_no_server_errors_and_answers_match_the_schema(live_server, member_a, member_b, key_v2):
    # Key versions 1 (v1) and 2 (v2, its seed in a real token evaluator): the documented examples name both.
    result = _run(live_server, member_a, "--phases", "examples,fuzzing,stateful", "--max-examples", "3")
    assert result.returncode == 0, result.stdout[-6000:]
    result = _run(live_server, member_b, "--phases", "examples", "--max-examples", "1")
    assert result.returncode == 0, result.stdout[-6000:]
