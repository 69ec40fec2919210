"""A second, independent RFC 9497 implementation (OPRF and VOPRF modes, ristretto255-SHA512), for the tests only.

The RFC's protocol layer written out over libsodium's ristretto255 primitives (pysodium, the system libsodium):
it shares no code with the ``voprf`` package that production uses, takes fixed blinds and proof randomness
(so it reproduces the RFC's vectors byte for byte, proofs included), and checks ``sharing.tokens.oprf`` in both
directions: its client against our evaluator, our client against its evaluator.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence

import pysodium as na

IDENTIFIER = b"ristretto255-SHA512"
ORDER = 2**252 + 27742317777372353535851937790883648493


def context(mode: int) -> bytes:
    return b"OPRFV1-" + bytes([mode]) + b"-" + IDENTIFIER


def _i2osp(value: int, length: int) -> bytes:
    return value.to_bytes(length, "big")


def expand_message_xmd(message: bytes, dst: bytes, length: int) -> bytes:
    """RFC 9380 §5.3.1 with SHA-512 (b = 64, r = 128)."""
    ell = -(-length // 64)
    assert ell <= 255 and len(dst) <= 255
    dst_prime = dst + _i2osp(len(dst), 1)
    b0 = hashlib.sha512(bytes(128) + message + _i2osp(length, 2) + b"\x00" + dst_prime).digest()
    blocks = [hashlib.sha512(b0 + b"\x01" + dst_prime).digest()]
    for i in range(2, ell + 1):
        blocks.append(
            hashlib.sha512(
                bytes(x ^ y for x, y in zip(b0, blocks[-1], strict=True)) + _i2osp(i, 1) + dst_prime
            ).digest()
        )
    return b"".join(blocks)[:length]


def hash_to_group(data: bytes, mode: int) -> bytes:
    return na.crypto_core_ristretto255_from_hash(expand_message_xmd(data, b"HashToGroup-" + context(mode), 64))


def hash_to_scalar(data: bytes, mode: int, dst: bytes | None = None) -> bytes:
    uniform = expand_message_xmd(data, dst or b"HashToScalar-" + context(mode), 64)
    return na.crypto_core_ristretto255_scalar_reduce(uniform)


def _scalar(value: bytes) -> int:
    return int.from_bytes(value, "little")


def _scalar_bytes(value: int) -> bytes:
    return (value % ORDER).to_bytes(32, "little")


def mul(scalar: bytes, element: bytes) -> bytes:
    return na.crypto_scalarmult_ristretto255(scalar, element)


def base_mul(scalar: bytes) -> bytes:
    return na.crypto_scalarmult_ristretto255_base(scalar)


def derive_key_pair(seed: bytes, info: bytes, mode: int) -> tuple[bytes, bytes]:
    derive_input = seed + _i2osp(len(info), 2) + info
    for counter in range(256):
        secret = hash_to_scalar(derive_input + _i2osp(counter, 1), mode, b"DeriveKeyPair" + context(mode))
        if _scalar(secret):
            return secret, base_mul(secret)
    raise ValueError("DeriveKeyPairError")


def _composites(public: bytes, blinded: Sequence[bytes], evaluated: Sequence[bytes], mode: int, secret=None):
    seed_dst = b"Seed-" + context(mode)
    seed = hashlib.sha512(_i2osp(len(public), 2) + public + _i2osp(len(seed_dst), 2) + seed_dst).digest()
    m = z = None
    for index, (c, d) in enumerate(zip(blinded, evaluated, strict=True)):
        transcript = (
            _i2osp(len(seed), 2)
            + seed
            + _i2osp(index, 2)
            + _i2osp(len(c), 2)
            + c
            + _i2osp(len(d), 2)
            + d
            + b"Composite"
        )
        weight = hash_to_scalar(transcript, mode)
        m = mul(weight, c) if m is None else na.crypto_core_ristretto255_add(m, mul(weight, c))
        if secret is None:
            z = mul(weight, d) if z is None else na.crypto_core_ristretto255_add(z, mul(weight, d))
    if secret is not None:
        z = mul(secret, m)
    return m, z


def _challenge(public: bytes, m: bytes, z: bytes, t2: bytes, t3: bytes, mode: int) -> bytes:
    transcript = b"".join(_i2osp(len(part), 2) + part for part in (public, m, z, t2, t3)) + b"Challenge"
    return hash_to_scalar(transcript, mode)


def generate_proof(secret: bytes, public: bytes, blinded, evaluated, mode: int = 1, r: bytes | None = None) -> bytes:
    m, z = _composites(public, blinded, evaluated, mode, secret=secret)
    r = r or na.crypto_core_ristretto255_scalar_random()
    t2, t3 = base_mul(r), mul(r, m)
    c = _challenge(public, m, z, t2, t3, mode)
    s = _scalar_bytes(_scalar(r) - _scalar(c) * _scalar(secret))
    return c + s


def verify_proof(public: bytes, blinded, evaluated, proof: bytes, mode: int = 1) -> bool:
    if len(proof) != 64:
        return False
    c, s = proof[:32], proof[32:]
    if _scalar(c) >= ORDER or _scalar(s) >= ORDER:
        return False
    try:
        m, z = _composites(public, blinded, evaluated, mode)
        t2 = _add_or_identity(base_mul(s) if _scalar(s) else None, mul(c, public) if _scalar(c) else None)
        t3 = _add_or_identity(mul(s, m) if _scalar(s) else None, mul(c, z) if _scalar(c) else None)
    except Exception:
        return False
    return secrets.compare_digest(_challenge(public, m, z, t2, t3, mode), c)


def _add_or_identity(a: bytes | None, b: bytes | None) -> bytes:
    if a is None or b is None:
        return a or b or bytes(32)
    return na.crypto_core_ristretto255_add(a, b)


def blind(data: bytes, mode: int = 1, blind_scalar: bytes | None = None) -> tuple[bytes, bytes]:
    scalar = blind_scalar or na.crypto_core_ristretto255_scalar_random()
    return scalar, mul(scalar, hash_to_group(data, mode))


def blind_evaluate(secret: bytes, blinded: bytes) -> bytes:
    if not na.crypto_core_ristretto255_is_valid_point(blinded):
        raise ValueError("invalid element")
    return mul(secret, blinded)


def finalize(data: bytes, blind_scalar: bytes, evaluated: bytes) -> bytes:
    unblinded = mul(na.crypto_core_ristretto255_scalar_invert(blind_scalar), evaluated)
    return hashlib.sha512(_i2osp(len(data), 2) + data + _i2osp(len(unblinded), 2) + unblinded + b"Finalize").digest()


def evaluate(secret: bytes, data: bytes, mode: int = 1) -> bytes:
    unblinded = mul(secret, hash_to_group(data, mode))
    return hashlib.sha512(_i2osp(len(data), 2) + data + _i2osp(len(unblinded), 2) + unblinded + b"Finalize").digest()
