"""The README's walk-through, run as a newcomer would copy it, against a live server.

Every ```sh block preceded by ``<!-- walkthrough -->`` runs in order, in one
working directory, with the environment the README tells the reader to set.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

from tests.conftest import database_url_of_test_database
from tests.environment import session_secrets

ROOT = Path(__file__).resolve().parent.parent
BLOCK = re.compile(r"<!-- walkthrough -->\n```sh\n(.*?)\n```", re.S)


def walkthrough_blocks() -> list[str]:
    return BLOCK.findall((ROOT / "README.md").read_text(encoding="utf-8"))


def test_the_readme_marks_its_walkthrough_and_closes_every_fence():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(walkthrough_blocks()) >= 5
    assert len(re.findall(r"^```", text, re.M)) % 2 == 0
    # Every marker is followed by a shell block (a marker before prose would silently test nothing).
    assert len(re.findall(r"^<!-- walkthrough -->$", text, re.M)) == len(walkthrough_blocks())


@pytest.mark.skipif(shutil.which("curl") is None, reason="the walk-through uses curl")
def test_the_readme_walkthrough_runs_as_written(transactional_db, live_server, member_a, tmp_path, token_evaluator):
    (tmp_path / "var").mkdir()
    key_file = tmp_path / "var" / "consortium-key-v1.json"
    call_command("consortium_key_new", out=str(key_file), stdout=StringIO())
    # The reader runs `uv run manage.py …` from the checkout.
    (tmp_path / "manage.py").symlink_to(ROOT / "manage.py")
    # DATABASE_URL names the session's database, so the commands run in production mode (DEBUG off):
    # they need the secrets, the session's own, as they read and sign what the live server wrote.
    env = {
        **os.environ,
        **session_secrets(),
        "DEBUG": "0",
        "RISKSHARE_URL": live_server.url,
        "RISKSHARE_API_KEY": member_a.key,
        "RISKSHARE_CONSORTIUM_KEY_FILE": "var/consortium-key-v1.json",
        "DATABASE_URL": database_url_of_test_database(),
        # The evaluator quickstart would have started; manage.py reaches it as the server does.
        "RISKSHARE_EVALUATOR_SOCKET": str(token_evaluator.socket),
        "UV_PROJECT": str(ROOT),
        "UV_NO_SYNC": "1",
    }
    # One shell, as a reader pasting block after block: variables carry from one to the next.
    script = "".join(
        f"echo '--- walk-through block {number}' >&2\n{block}\n"
        for number, block in enumerate(walkthrough_blocks(), start=1)
    )
    result = subprocess.run(  # noqa: S603 - the README's own commands
        ["bash", "-euo", "pipefail", "-c", script],  # noqa: S607
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=540,
    )
    assert result.returncode == 0, f"the walk-through failed:\n{result.stdout}\n{result.stderr}"
    results = (tmp_path / "results.csv").read_text(encoding="utf-8").splitlines()
    assert len(results) == 3  # header and one row per applicant
    assert "looked up 2 identifier(s), 1 hit(s)" in result.stderr  # APP-1 is LOAN-1's borrower
    assert "OK: " in result.stdout and "files match the signed manifest" in result.stdout
    # The move to v2: the re-keyed record is found by the applicant's v2 token, and v1 is retired.
    assert "selftest passed" in result.stdout
    assert "proofs verified" in result.stderr
    v2_results = (tmp_path / "results.v2.csv").read_text(encoding="utf-8").splitlines()
    assert len(v2_results) == 3 and ",true," in v2_results[1]
