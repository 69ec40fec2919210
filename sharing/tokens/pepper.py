"""Tokens at rest: what the platform stores instead of the token a member sent.

``HMAC-SHA256(platform_pepper, token)`` over the token's 64-character
lowercase hex form, so a copy of the database alone cannot be matched against
tokens computed with the consortium key.
"""

from __future__ import annotations

import functools
import hmac
from collections.abc import Iterable

from django.conf import settings


@functools.lru_cache(maxsize=2)
def _keyed(pepper: bytes) -> hmac.HMAC:
    """HMAC-SHA256 keyed with the pepper, copied for each token: the key is hashed into its pads once."""
    return hmac.new(pepper, digestmod="sha256")


def pepper_token(token: str) -> bytes:
    return pepper_tokens([token])[0]


def pepper_tokens(tokens: Iterable[str]) -> list[bytes]:
    """``HMAC-SHA256(platform_pepper, token)`` for many tokens."""
    keyed = _keyed(settings.RISKSHARE_PEPPER)
    peppered = []
    for token in tokens:
        mac = keyed.copy()
        mac.update(token.encode("ascii"))
        peppered.append(mac.digest())
    return peppered


# Many peppered tokens travel to PostgreSQL as one buffer parameter ``%(tokens)s`` of 32 bytes each, cut
# in the server: a 10,000-element bytea array costs psycopg ~7 ms to encode in Python. In SQL, the
# token at position ``n`` (from 0) of that buffer:
TOKEN_AT_N = "substring(%(tokens)s::bytea FROM n * 32 + 1 FOR 32)"  # noqa: S105 - SQL, not a secret
