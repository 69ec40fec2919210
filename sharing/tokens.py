"""Tokens at rest: what the platform stores instead of the token a member sent.

``HMAC-SHA256(platform_pepper, token)`` over the token's 64-character
lowercase hex form, so a copy of the database alone cannot be matched against
tokens computed with the consortium key.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable

from django.conf import settings


def pepper_token(token: str) -> bytes:
    return hmac.digest(settings.RISKSHARE_PEPPER, token.encode("ascii"), "sha256")


def identifiers_digest(pairs: Iterable[tuple[str, bytes]]) -> bytes:
    """A digest of a record's (type, peppered token) set, independent of order."""
    digest = hashlib.sha256()
    for id_type, token in sorted(pairs):
        digest.update(id_type.encode())
        digest.update(b"\x00")
        digest.update(token)
    return digest.digest()
