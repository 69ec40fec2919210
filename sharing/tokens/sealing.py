"""Member tokens the platform must give back, sealed at rest.

A lookup's stored answer (``GET /api/v1/lookups/{id}``) must show each token exactly as the member
sent it, which a peppered token cannot give back. Such copies are stored encrypted instead:
AES-256-GCM under a key derived from the platform pepper (HKDF-SHA256, its own ``info``), so a copy
of the database alone reveals no token, as for the peppered ones (docs/design.md, "tokens at rest"). The
``context`` names what the sealed bytes belong to: moved to another row, they no longer open.
"""

from __future__ import annotations

import base64
import functools
import os

import orjson
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings

_NONCE_BYTES = 12


@functools.lru_cache(maxsize=2)
def _aead(pepper: bytes) -> AESGCM:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"riskshare: tokens sealed at rest, v1")
    return AESGCM(key.derive(pepper))


def seal(plaintext: bytes, *, context: bytes) -> bytes:
    """A random nonce, then the ciphertext with its tag."""
    nonce = os.urandom(_NONCE_BYTES)
    return nonce + _aead(settings.RISKSHARE_PEPPER).encrypt(nonce, plaintext, context)


def unseal(sealed: bytes, *, context: bytes) -> bytes:
    """The plaintext; ``cryptography.exceptions.InvalidTag`` if the bytes or their context were changed."""
    return _aead(settings.RISKSHARE_PEPPER).decrypt(sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:], context)


# What each sealed copy belongs to. The bytes must never change: what was sealed under them opens
# only with them (the services and migration 0012 use these).
def answer_context(lookup_id: int) -> bytes:
    return b"riskshare lookup answer %d" % lookup_id


# First byte of a sealed lookup answer (migrations 0012 and 0013 tell it from the unsealed ones
# stored before).
SEALED_ANSWER = b"\x04"


def answer_seal(packed: bytes, *, lookup_id: int) -> bytes:
    """A lookup's packed answer as stored: the marker byte, then sealed under the lookup's id."""
    return SEALED_ANSWER + seal(packed, context=answer_context(lookup_id))


def answer_open(stored: bytes, *, lookup_id: int) -> bytes:
    """The packed answer from what is stored; ValueError if it is not sealed."""
    if stored[:1] != SEALED_ANSWER:
        raise ValueError(f"lookup {lookup_id}: the stored answer is not sealed")
    return unseal(stored[1:], context=answer_context(lookup_id))


def alert_identifiers_context(*, member_id: int, lookup_id: int) -> bytes:
    return b"riskshare alert identifiers: member %d, lookup %d" % (member_id, lookup_id)


def identifiers_seal(identifiers: list[dict[str, str]], *, member_id: int, lookup_id: int) -> str:
    """A member's own identifiers (tokens as it sent them) for an alert's JSON payload: sealed, base64."""
    context = alert_identifiers_context(member_id=member_id, lookup_id=lookup_id)
    return base64.b64encode(seal(orjson.dumps(identifiers), context=context)).decode("ascii")


def identifiers_open(sealed: str, *, member_id: int, lookup_id: int) -> list[dict[str, str]]:
    context = alert_identifiers_context(member_id=member_id, lookup_id=lookup_id)
    return orjson.loads(unseal(base64.b64decode(sealed), context=context))
