"""Our checkpoints, notes, proofs and tiles checked by an independent implementation (aics-tlog, tests only).

aics-tlog (a dev dependency, pyproject.toml) needs Python 3.12 while the project runs on 3.11, so on
3.11 it is not installed: the check then runs it in a separate interpreter named by
RISKSHARE_TLOG_CROSSCHECK_PYTHON (e.g. `uv venv -p 3.12 /tmp/aics && VIRTUAL_ENV=/tmp/aics uv pip install
aics-tlog`), or in this one when it has the package; otherwise it is skipped, saying so.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sharing.tlog import merkle, note, tiles
from sharing.tlog.services import log_sequence
from sharing.tlog.signing import log_name
from tests.sharing.conftest import blacklist, submit

SCRIPT = Path(__file__).with_name("tlog_crosscheck.py")


def _interpreter() -> str | None:
    configured = os.environ.get("RISKSHARE_TLOG_CROSSCHECK_PYTHON")
    if configured:
        return configured
    return sys.executable if importlib.util.find_spec("aics_tlog") else None


def test_an_independent_implementation_accepts_our_log(member_a, key_v1):
    python = _interpreter()
    if python is None:
        pytest.skip("aics-tlog is not installed; set RISKSHARE_TLOG_CROSSCHECK_PYTHON to a Python 3.12 that has it")
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
        [python, str(SCRIPT)], input=json.dumps(given), capture_output=True, text=True, timeout=120, check=False
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
