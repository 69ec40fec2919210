"""Verify a data subject's report (the signed JSON document): its Ed25519 signature under the platform's report key.

No Django here: ``riskshare verify-subject-report`` runs it anywhere. The signature covers the canonical JSON of
``report`` (keys sorted, no white space, UTF-8), so the file may be re-indented without breaking it.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from sharing.common.crypto import public_key_fingerprint

FORMAT = "riskshare-subject-report/1"


def canonical(report: dict[str, Any]) -> bytes:
    return json.dumps(report, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


def subject_report_verify(document: bytes, public_key_pem: bytes) -> tuple[bool, str]:
    """(ok, what was found): the format, the key's fingerprint and the signature over the report."""
    key = serialization.load_pem_public_key(public_key_pem)
    if not isinstance(key, Ed25519PublicKey):
        return False, "the public key is not an Ed25519 key"
    try:
        envelope = json.loads(document)
        report, signature = envelope["report"], base64.b64decode(envelope["signature"], validate=True)
    except (ValueError, KeyError, TypeError):
        return False, "not a subject report document (report and signature expected)"
    if not isinstance(report, dict) or report.get("format") != FORMAT:
        return False, f"not a {FORMAT} document"
    fingerprint = public_key_fingerprint(key)
    if envelope.get("key_fingerprint") != fingerprint:
        return False, f"signed with key {envelope.get('key_fingerprint')}, not {fingerprint}"
    try:
        key.verify(signature, canonical(report))
    except InvalidSignature:
        return False, "the signature does not match the report: it was changed after signing"
    return True, f"report {report.get('number')} of {report.get('issued_at')}: signature valid (key {fingerprint})"
