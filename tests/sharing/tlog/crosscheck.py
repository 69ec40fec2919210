"""Run by an interpreter that has the independent ``aics_tlog`` package: checks our log's artifacts with it.

Reads a JSON document on stdin (what tests/sharing/tlog/test_independent.py collects from our API)
and prints one JSON object of results; it imports nothing of riskshare.
"""

import base64
import json
import sys

import aics_tlog
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey


def unb64(value):
    return base64.b64decode(value)


def main():
    given = json.load(sys.stdin)
    key = aics_tlog.parse_vkey(given["vkey"])
    results = {"checkpoints": [], "inclusion": [], "consistency": [], "tiles": {}}
    for signed in given["checkpoints"]:
        verdict = aics_tlog.verify_checkpoint(aics_tlog.parse_note(signed), key, expected_origin=given["origin"])
        cp, _note = aics_tlog.checkpoint.checkpoint_from_note(signed)
        results["checkpoints"].append(
            {"ok": bool(verdict.ok), "size": cp.size, "root": base64.b64encode(cp.root).decode()}
        )
    for proof in given["inclusion"]:
        results["inclusion"].append(
            aics_tlog.verify_inclusion(
                unb64(proof["leaf_hash"]),
                proof["index"],
                proof["tree_size"],
                [unb64(p) for p in proof["proof"]],
                unb64(proof["root"]),
            )
        )
    for proof in given["consistency"]:
        results["consistency"].append(
            aics_tlog.verify_consistency(
                proof["first"],
                proof["second"],
                unb64(proof["first_root"]),
                unb64(proof["second_root"]),
                [unb64(p) for p in proof["proof"]],
            )
        )
    reader = aics_tlog.MemoryTileReader({f"tile/{path}": unb64(content) for path, content in given["tiles"].items()})
    size = given["size"]
    results["tiles"]["root"] = base64.b64encode(aics_tlog.tree_root_from_tiles(reader, size)).decode()
    results["tiles"]["inclusion"] = [
        [base64.b64encode(h).decode() for h in aics_tlog.inclusion_proof_from_tiles(reader, i, size)]
        for i in given["tile_indices"]
    ]
    # The other way round: a checkpoint it signs, for our verifier to open.
    private = Ed25519PrivateKey.generate()
    theirs = aics_tlog.sign_checkpoint(
        aics_tlog.Checkpoint("example.test/theirs", 3, b"\x07" * 32), private, "example.test/theirs"
    )
    results["theirs"] = {
        "note": theirs.to_bytes().decode() if hasattr(theirs, "to_bytes") else str(theirs),
        "vkey": aics_tlog.format_vkey(aics_tlog.vkey_from_ed25519("example.test/theirs", private.public_key())),
    }
    json.dump(results, sys.stdout)


main()
