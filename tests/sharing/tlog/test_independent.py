"""Our checkpoints, notes, proofs and tiles checked by an independent implementation (aics-tlog, tests only).

aics-tlog (a dev dependency, pyproject.toml) needs Python 3.12 while the project runs on 3.11, so on
3.11 it is not in the project's environment. The check then runs the script in another interpreter:
the one RISKSHARE_TLOG_CROSSCHECK_PYTHON names, or a Python 3.12+ found on the machine (uv's discovery,
then pyenv's versions) through `uv run --with aics-tlog==<locked version>`. Without any, it is skipped,
saying why.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from sharing.tlog import merkle, note, tiles
from sharing.tlog.services import log_sequence
from sharing.tlog.signing import log_name
from tests.sharing.conftest import blacklist, submit

SCRIPT = Path(__file__).with_name("crosscheck.py")


def _python_312(uv: str) -> str | None:
    """A Python 3.12 or newer on this machine: uv's discovery first, then pyenv's installed versions."""
    found = subprocess.run(  # noqa: S603 - uv itself, asked where an interpreter is
        [uv, "python", "find", "--no-project", ">=3.12"], capture_output=True, text=True, timeout=60, check=False
    )
    if found.returncode == 0 and found.stdout.strip():
        return found.stdout.strip()
    pyenv = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv") / "versions"
    releases = [p for p in pyenv.glob("3.1[2-9]*/bin/python3") if re.fullmatch(r"3\.\d+\.\d+", p.parts[-3])]
    candidates = sorted(releases, key=lambda p: [int(n) for n in p.parts[-3].split(".")])
    return str(candidates[-1]) if candidates else None


def _locked_aics_version() -> str:
    lock = tomllib.loads((Path(__file__).parents[3] / "uv.lock").read_text())
    return next(package["version"] for package in lock["package"] if package["name"] == "aics-tlog")


def _crosscheck_command() -> tuple[list[str] | None, str]:
    """How to run the cross-check script with aics-tlog, or why it cannot run here."""
    configured = os.environ.get("RISKSHARE_TLOG_CROSSCHECK_PYTHON")
    if configured:
        return [configured], ""
    if importlib.util.find_spec("aics_tlog"):
        return [sys.executable], ""
    uv = shutil.which("uv")
    if uv is None:
        return None, "aics-tlog is not installed and uv is not on PATH"
    python = _python_312(uv)
    if python is None:
        return None, "aics-tlog needs Python 3.12 or newer, and none was found (uv python find, pyenv)"
    command = [uv, "run", "--no-project", "--python", python, "--with", f"aics-tlog=={_locked_aics_version()}"]
    try:
        probe = subprocess.run(  # noqa: S603 - uv, with the locked version of the package
            [*command, "python", "-c", "import aics_tlog"], capture_output=True, text=True, timeout=300, check=False
        )
    except subprocess.TimeoutExpired:
        return None, f"installing aics-tlog for {python} took over 300 s"
    if probe.returncode != 0:
        return None, f"aics-tlog could not be installed for {python}: {probe.stderr.strip()[-300:]}"
    return [*command, "python"], ""


def test_an_independent_implementation_accepts_our_log(member_a, key_v1):
    command, why_not = _crosscheck_command()
    if command is None:
        pytest.skip(f"{why_not}; or set RISKSHARE_TLOG_CROSSCHECK_PYTHON to a Python 3.12 that has it")
    client = member_a.client()
    checkpoints = []
    for count in (3, 300, 5):  # past one full tile, so that a level-1 tile exists
        submit(member_a, [blacklist() for _ in range(count)])
        log_sequence()
        checkpoints.append(client.get("/api/v1/log/checkpoint").content.decode())
    opened = [
        note.checkpoint_parse(note.note_open(c, note.verifier_parse(client.get("/api/v1/log/key").content.decode())))
        for c in checkpoints
    ]
    size = opened[-1].size
    root = opened[-1].root
    import base64

    def b64(value: bytes) -> str:
        return base64.b64encode(value).decode()

    indices = [0, 1, 255, 256, size - 1]
    inclusion = []
    for index in indices:
        proof = client.get(f"/api/v1/log/proof/inclusion?index={index}&tree_size={size}").json()
        inclusion.append({**proof, "root": b64(root)})
    consistency = []
    for first in opened[:-1]:
        proof = client.get(f"/api/v1/log/proof/consistency?first={first.size}&second={size}").json()
        consistency.append({**proof, "first_root": b64(first.root), "second_root": b64(root)})
    tile_paths = [tiles.tile_path(0, 0), tiles.tile_path(0, 1, size - 256), tiles.tile_path(1, 0, 1)]
    tile_content = {path: b64(client.get(f"/api/v1/log/tile/{path}").content) for path in tile_paths}
    given = {
        "vkey": client.get("/api/v1/log/key").content.decode().strip(),
        "origin": log_name(),
        "checkpoints": checkpoints,
        "inclusion": inclusion,
        "consistency": consistency,
        "tiles": tile_content,
        "size": size,
        "tile_indices": indices,
    }
    done = subprocess.run(  # noqa: S603 - our own script, on an interpreter the tester named
        [*command, str(SCRIPT)], input=json.dumps(given), capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout)
    assert [c["ok"] for c in results["checkpoints"]] == [True, True, True]
    assert [c["size"] for c in results["checkpoints"]] == [c.size for c in opened]
    assert all(results["inclusion"]) and len(results["inclusion"]) == len(indices)
    assert all(results["consistency"]) and len(results["consistency"]) == 2
    assert results["tiles"]["root"] == b64(root)
    assert results["tiles"]["inclusion"] == [p["proof"] for p in inclusion]
    # And a checkpoint it signed opens with our verifier.
    theirs = note.checkpoint_open(results["theirs"]["note"], note.verifier_parse(results["theirs"]["vkey"]))
    assert (theirs.origin, theirs.size, theirs.root) == ("example.test/theirs", 3, b"\x07" * 32)
    assert merkle.verify_inclusion(
        0, size, base64.b64decode(inclusion[0]["leaf_hash"]), [base64.b64decode(p) for p in inclusion[0]["proof"]], root
    )
