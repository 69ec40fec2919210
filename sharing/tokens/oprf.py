"""Identifier tokens, specification v2: RFC 9497 VOPRF, suite ristretto255-SHA512 (docs/identifier-tokens.md §6).

Under key version V with a 32-byte seed, identifier type T has the key pair
``DeriveKeyPair(seed, info="riskshare:v2:" + T)``; the input is ``"riskshare:v2:" + T + ":" + canonical``
(UTF-8, v1's canonicalization); the token is the first 32 bytes of ``Finalize``'s 64-byte output, as 64 lowercase
hex. The member blinds and finalizes (``blind``, ``finalize``: the CLI), the platform's evaluator evaluates with a
batched DLEQ proof (``evaluator_for``, ``blind_evaluate``); ``evaluate`` is the full unblinded ``Evaluate`` that
only a seed holder can compute (the operator's desk).

The group arithmetic and the protocol come from the ``voprf`` package: a PyO3 wrapper of Meta's Rust crate
``voprf`` (the one ``opaque-ke`` builds on; curve25519-dalek underneath), with wheels for every platform members
run, so the CLI needs no system library and no compiler. Chosen over a protocol layer of our own over libsodium
(~200 lines of hash-to-curve and DLEQ we would have to keep correct): that layer exists only in the tests, as the
second, independent implementation that checks this one on the RFC's and riskshare's vectors in both directions
(tests/sharing/tokens/oprf_reference.py). Two defects of the wrapper are contained here: a proof that does not
verify raises a Rust panic (``pyo3_runtime.PanicException``, a ``BaseException``), turned into ``ProofError``;
and it cannot take a fixed blind, which only test vectors need (the reference implementation checks those).

No Django: the CLI imports this module on members' machines.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator, Sequence

from voprf import ristretto

SUITE = "ristretto255-SHA512"
PREFIX = "riskshare:v2:"
SEED_BYTES = 32
ELEMENT_BYTES = 32
PROOF_BYTES = 64
TOKEN_BYTES = 32
# One request's elements: the API's limit, far under the library's 2^16 - 1.
MAX_ELEMENTS = 10_000


class OprfError(ValueError):
    """Base of this module's errors; messages never contain an identifier."""


class ElementError(OprfError):
    """A blinded element that is not a canonical, non-identity ristretto255 encoding."""

    def __init__(self, index: int):
        super().__init__(f"element {index} is not a valid ristretto255 element")
        self.index = index


class ProofError(OprfError):
    """The evaluator's answer does not prove it used the published key: never finalize such an answer."""


def key_info(id_type: str) -> bytes:
    return (PREFIX + id_type).encode("ascii")


def token_input(id_type: str, canonical: str) -> bytes:
    return f"{PREFIX}{id_type}:{canonical}".encode()


def token_of_output(output: bytes) -> str:
    return output[:TOKEN_BYTES].hex()


# --- the member's side ---------------------------------------------------------------------------------


class Blinded:
    """Blinded inputs of one request, and the secret blinds that finalize its answer."""

    def __init__(self, inputs: Sequence[bytes]):
        pairs = [ristretto.Client.blind(data) for data in inputs]
        self._clients = [client for client, _blinded in pairs]
        self.elements = [blinded.serialize() for _client, blinded in pairs]

    def finalize(self, evaluated: Sequence[bytes], proof: bytes, public_key: bytes) -> list[str]:
        """Verify the batched proof against ``public_key`` and unblind: the tokens, in input order.

        Raises ProofError for anything but a proven answer of the right length; there is no fallback.
        """
        if len(evaluated) != len(self._clients):
            raise ProofError(f"{len(evaluated)} evaluated elements for {len(self._clients)} blinded ones")
        if len(proof) != PROOF_BYTES or any(len(element) != ELEMENT_BYTES for element in evaluated):
            raise ProofError("the answer's proof or elements have the wrong length")
        try:
            key = ristretto.PublicKey.deserialize(public_key)
            answer = ristretto.VerifiableBatchOutput.deserialize(proof + b"".join(evaluated))
        except ValueError:
            raise ProofError("the answer does not decode as ristretto255 elements and a proof") from None
        with _panic_as_proof_error():
            outputs = ristretto.Client.finalize_batch(self._clients, answer, key)
        return [token_of_output(output) for output in outputs]


@contextlib.contextmanager
def _panic_as_proof_error() -> Iterator[None]:
    """The wrapper panics on a proof that does not verify: a ProofError instead, without Rust's message on stderr.

    The panic hook writes to file descriptor 2 directly, so it is pointed at the null device for the call
    (a CLI's one thread; nothing else writes meanwhile).
    """
    saved = _stderr_to_null()
    try:
        yield
    except ValueError:
        raise ProofError("the evaluator's answer does not decode") from None
    except BaseException as exc:
        if type(exc).__name__ != "PanicException":
            raise
        raise ProofError("the evaluator's proof does not verify against the pinned public key") from None
    finally:
        _stderr_restore(saved)


def _stderr_to_null() -> int | None:
    try:
        sys.stderr.flush()
        saved = os.dup(2)
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, 2)
        os.close(null)
        return saved
    except (OSError, ValueError, AttributeError):
        return None


def _stderr_restore(saved: int | None) -> None:
    if saved is not None:
        os.dup2(saved, 2)
        os.close(saved)


# --- the evaluator's side (the only holder of seeds) ---------------------------------------------------


def evaluator_for(seed: bytes, id_type: str) -> ristretto.Evaluator:
    """``DeriveKeyPair(seed, "riskshare:v2:" + id_type)``."""
    if len(seed) != SEED_BYTES:
        raise OprfError(f"a seed is {SEED_BYTES} bytes")
    return ristretto.Evaluator.from_seed(seed, key_info(id_type))


def public_key(evaluator: ristretto.Evaluator) -> bytes:
    return evaluator.public_key.serialize()


def blind_evaluate(evaluator: ristretto.Evaluator, elements: Sequence[bytes]) -> tuple[list[bytes], bytes]:
    """``BlindEvaluate`` of every element with one batched DLEQ proof: (evaluated elements, proof).

    Every element is decoded first, so a bad one (non-canonical, the identity, the wrong length) raises
    ElementError naming its index before anything is evaluated.
    """
    blinded = []
    for index, element in enumerate(elements):
        if len(element) != ELEMENT_BYTES:
            raise ElementError(index)
        try:
            blinded.append(ristretto.BlindedInput.deserialize(element))
        except ValueError:
            raise ElementError(index) from None
    if not blinded:
        return [], b""
    answer = evaluator.evaluate_batch(blinded).serialize()
    proof, body = answer[:PROOF_BYTES], answer[PROOF_BYTES:]
    return [body[start : start + ELEMENT_BYTES] for start in range(0, len(body), ELEMENT_BYTES)], proof


def evaluate(evaluator: ristretto.Evaluator, id_type: str, canonical: str) -> str:
    """The full ``Evaluate(sk, input)``: the token of a canonical identifier, computed with the key itself."""
    return token_of_output(evaluator.evaluate_known_input(token_input(id_type, canonical)))
