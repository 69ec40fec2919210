"""Verify a self-inspection report ZIP: every listed hash, no unlisted file, the Ed25519 signature.

No Django here: ``riskshare verify-report`` (sharing/cli.py) runs it on a member's machine, and
``manage.py report_verify`` runs the same function with the platform's configured key.
"""

from __future__ import annotations

import base64
import io
import json
import zipfile
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from sharing.common.crypto import public_key_fingerprint, sha256_hex
from sharing.tlog import merkle, note

MANIFEST = "manifest.json"
LOG_FILE = "log.json"
SIGNATURE = "manifest.sig"
FORMAT = "riskshare-self-inspection-report/1"


@dataclass(frozen=True)
class Mismatch:
    """One thing that does not match: which file, what was expected, what was found."""

    file: str
    problem: str
    expected: str = ""
    actual: str = ""

    def __str__(self) -> str:
        text = f"{self.file}: {self.problem}"
        if self.expected or self.actual:
            text += f" (expected {self.expected or '-'}, actual {self.actual or '-'})"
        return text


@dataclass
class Verification:
    mismatches: list[Mismatch] = field(default_factory=list)
    manifest: dict[str, Any] | None = None
    files_checked: int = 0
    log_leaves_checked: int = 0

    @property
    def ok(self) -> bool:
        return not self.mismatches


def public_key_load(pem: bytes) -> Ed25519PublicKey:
    key = serialization.load_pem_public_key(pem)
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("the public key is not an Ed25519 key")
    return key


def report_verify(data: bytes, public_key_pem: bytes, log_key: str | None = None) -> Verification:
    """Check a report ZIP against a public key; every problem found is listed, not just the first.

    A report that embeds the verifiable log (log.json) has its checkpoint and inclusion proofs checked
    too, with ``log_key`` (the log's verifier key) when given, else the key the file names.
    """
    result = Verification()
    key = public_key_load(public_key_pem)
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        names = archive.namelist()
    except zipfile.BadZipFile as exc:
        result.mismatches.append(Mismatch("(archive)", f"not a readable ZIP file: {exc}"))
        return result
    with archive:
        for name in sorted({n for n in names if names.count(n) > 1}):
            result.mismatches.append(Mismatch(name, "appears more than once in the archive"))
        if MANIFEST not in names:
            result.mismatches.append(Mismatch(MANIFEST, "missing"))
            return result
        manifest_bytes = archive.read(MANIFEST)
        _signature_check(result, archive, names, key, manifest_bytes)
        try:
            manifest = json.loads(manifest_bytes)
            listed = {entry["name"]: entry for entry in manifest["files"]}
        except (ValueError, KeyError, TypeError) as exc:
            result.mismatches.append(Mismatch(MANIFEST, f"not a valid manifest: {exc}"))
            return result
        result.manifest = manifest
        fingerprint = (manifest.get("signing_key") or {}).get("fingerprint", "")
        if fingerprint and fingerprint != public_key_fingerprint(key):
            result.mismatches.append(
                Mismatch(
                    MANIFEST,
                    "signed with another key than the one given",
                    expected=fingerprint,
                    actual=public_key_fingerprint(key),
                )
            )
        for name, entry in sorted(listed.items()):
            if name not in names:
                result.mismatches.append(Mismatch(name, "listed in the manifest but missing from the archive"))
                continue
            content = archive.read(name)
            actual = sha256_hex(content)
            if actual != entry.get("sha256"):
                result.mismatches.append(Mismatch(name, "SHA-256 differs", str(entry.get("sha256")), actual))
            elif entry.get("size") is not None and entry["size"] != len(content):
                result.mismatches.append(Mismatch(name, "size differs", str(entry["size"]), str(len(content))))
            result.files_checked += 1
        for name in sorted(set(names) - set(listed) - {MANIFEST, SIGNATURE}):
            result.mismatches.append(Mismatch(name, "present in the archive but not listed in the manifest"))
        if LOG_FILE in listed and LOG_FILE in names:
            _log_check(result, archive.read(LOG_FILE), log_key)
    return result


def _log_check(result: Verification, content: bytes, log_key: str | None) -> None:
    """log.json: the checkpoint's signature (with the pinned log key when given), and every leaf's proof."""
    try:
        document = json.loads(content)
        if document.get("checkpoint") is None:
            return  # the log was empty when the report was made
        key = note.verifier_parse(log_key or document["verifier_key"])
        if log_key and document.get("verifier_key") != log_key:
            result.mismatches.append(Mismatch(LOG_FILE, "names another log key than the one pinned"))
        checkpoint = note.checkpoint_open(document["checkpoint"], key, origin=key.name)
        leaves = document["leaves"]
    except (ValueError, KeyError, TypeError, note.NoteError) as exc:
        result.mismatches.append(Mismatch(LOG_FILE, f"the log checkpoint does not verify: {exc}"))
        return
    for entry in leaves:
        try:
            leaf_hash = base64.b64decode(entry["leaf_hash"])
            proof = [base64.b64decode(p) for p in entry["proof"]]
            included = merkle.verify_inclusion(entry["index"], checkpoint.size, leaf_hash, proof, checkpoint.root)
        except (ValueError, KeyError, TypeError):
            included = False
        if not included:
            result.mismatches.append(
                Mismatch(LOG_FILE, f"leaf {entry.get('index')} is not included under the checkpoint")
            )
        else:
            result.log_leaves_checked += 1


def _signature_check(result: Verification, archive, names, key: Ed25519PublicKey, manifest_bytes: bytes) -> None:
    if SIGNATURE not in names:
        result.mismatches.append(Mismatch(SIGNATURE, "missing: the manifest is not signed"))
        return
    signature = archive.read(SIGNATURE)
    try:
        key.verify(signature, manifest_bytes)
    except InvalidSignature:
        result.mismatches.append(
            Mismatch(
                SIGNATURE,
                "the Ed25519 signature does not verify over manifest.json (the manifest or the signature changed)",
                expected=f"a valid signature by key {public_key_fingerprint(key)[:16]}…",
                actual=base64.b64encode(signature).decode()[:24] + "…",
            )
        )


def verification_lines(result: Verification) -> list[str]:
    """What both commands print."""
    if result.ok:
        manifest = result.manifest or {}
        member = manifest.get("member", {})
        period = manifest.get("period", {})
        return [
            f"OK: {result.files_checked} files match the signed manifest "
            f"(member {member.get('name', '?')} {member.get('uscc', '')}, "
            f"period {period.get('start', '?')} to {period.get('end', '?')}, "
            f"key {manifest.get('signing_key', {}).get('fingerprint', '?')})"
            + (
                f"; {result.log_leaves_checked} log leaves included under the checkpoint"
                if result.log_leaves_checked
                else ""
            )
        ]
    return [f"MISMATCH {mismatch}" for mismatch in result.mismatches]
