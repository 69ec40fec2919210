"""Tokens v2 (RFC 9497 VOPRF, ristretto255-SHA512): the RFC's vectors and riskshare's, in two implementations.

Production's (``sharing.tokens.oprf`` over the ``voprf`` package) and an independent one over libsodium
(``oprf_reference``), each checked on the vectors and against the other in both directions.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sharing.tokens import oprf
from sharing.tokens.identifiers import ID_TYPES, InvalidIdentifier, canonicalize
from tests.sharing.tokens import oprf_reference as ref

ROOT = Path(__file__).resolve().parents[3]
RFC_VECTORS = ROOT / "sharing" / "tokens" / "rfc9497-vectors.json"
OUR_VECTORS = ROOT / "docs" / "identifier-token-vectors-v2.json"


def _rfc(mode: int) -> dict:
    suites = json.loads(RFC_VECTORS.read_text(encoding="utf-8"))
    return next(s for s in suites if s["identifier"] == "ristretto255-SHA512" and s["mode"] == mode)


def _split(value: str) -> list[bytes]:
    return [bytes.fromhex(part) for part in value.split(",")]


RFC_CASES = [(mode, index) for mode in (0, 1) for index in range(len(_rfc(mode)["vectors"]))]


@pytest.mark.parametrize(("mode", "index"), RFC_CASES)
def test_the_reference_implementation_reproduces_the_rfc_vectors_byte_for_byte(mode, index):
    suite = _rfc(mode)
    vector = suite["vectors"][index]
    secret, public = ref.derive_key_pair(bytes.fromhex(suite["seed"]), bytes.fromhex(suite["keyInfo"]), mode)
    assert secret.hex() == suite["skSm"]
    inputs, blinds = _split(vector["Input"]), _split(vector["Blind"])
    blinded = [ref.blind(data, mode, scalar)[1] for data, scalar in zip(inputs, blinds, strict=True)]
    assert ",".join(b.hex() for b in blinded) == vector["BlindedElement"]
    evaluated = [ref.blind_evaluate(secret, element) for element in blinded]
    assert ",".join(e.hex() for e in evaluated) == vector["EvaluationElement"]
    outputs = [ref.finalize(d, s, e) for d, s, e in zip(inputs, blinds, evaluated, strict=True)]
    assert ",".join(o.hex() for o in outputs) == vector["Output"]
    assert [ref.evaluate(secret, data, mode).hex() for data in inputs] == vector["Output"].split(",")
    if mode == 1:
        assert public.hex() == suite["pkSm"]
        proof = ref.generate_proof(secret, public, blinded, evaluated, mode, bytes.fromhex(vector["Proof"]["r"]))
        assert proof.hex() == vector["Proof"]["proof"]
        assert ref.verify_proof(public, blinded, evaluated, proof)
        tampered = bytes([proof[0] ^ 1]) + proof[1:]
        assert not ref.verify_proof(public, blinded, evaluated, tampered)


@pytest.mark.parametrize("index", range(len(_rfc(1)["vectors"])))
def test_production_reproduces_the_rfc_vectors_and_its_proofs_verify_elsewhere(index):
    suite = _rfc(1)
    vector = suite["vectors"][index]
    evaluator = oprf.ristretto.Evaluator.from_seed(bytes.fromhex(suite["seed"]), bytes.fromhex(suite["keyInfo"]))
    assert oprf.public_key(evaluator).hex() == suite["pkSm"]
    blinded = _split(vector["BlindedElement"])
    evaluated, proof = oprf.blind_evaluate(evaluator, blinded)
    # BlindEvaluate is deterministic; the proof's randomness is not, so the reference verifies it instead.
    assert ",".join(e.hex() for e in evaluated) == vector["EvaluationElement"]
    assert ref.verify_proof(bytes.fromhex(suite["pkSm"]), blinded, evaluated, proof)
    outputs = [evaluator.evaluate_known_input(data).hex() for data in _split(vector["Input"])]
    assert outputs == vector["Output"].split(",")


def test_our_client_accepts_the_rfc_proof_of_the_reference_evaluator():
    suite = _rfc(1)
    secret, public = ref.derive_key_pair(bytes.fromhex(suite["seed"]), bytes.fromhex(suite["keyInfo"]), 1)
    inputs = [b"\x00", b"ZZZZZZZZZZZZZZZZZ", b"riskshare:v2:cn_mobile:13800138000"]
    blinded = oprf.Blinded(inputs)
    evaluated = [ref.blind_evaluate(secret, element) for element in blinded.elements]
    proof = ref.generate_proof(secret, public, blinded.elements, evaluated)
    tokens = blinded.finalize(evaluated, proof, public)
    assert tokens == [ref.evaluate(secret, data)[:32].hex() for data in inputs]


def _our_vectors() -> dict:
    return json.loads(OUR_VECTORS.read_text(encoding="utf-8"))


def test_riskshare_v2_vectors_hold_in_both_implementations_and_across_them():
    document = _our_vectors()
    seed = bytes.fromhex(document["test_seed_hex"])
    assert set(document["public_keys"]) == set(ID_TYPES)
    for id_type in ID_TYPES:
        secret, public = ref.derive_key_pair(seed, oprf.key_info(id_type), 1)
        assert public.hex() == document["public_keys"][id_type]
        assert oprf.public_key(oprf.evaluator_for(seed, id_type)).hex() == public.hex()
    valid = [v for v in document["vectors"] if "token" in v]
    assert len(valid) >= 12 and {v["type"] for v in valid} == set(ID_TYPES)
    for vector in document["vectors"]:
        if "reason" in vector:
            with pytest.raises(InvalidIdentifier) as caught:
                canonicalize(vector["type"], vector["raw"])
            assert caught.value.reason == vector["reason"]
            continue
        id_type = vector["type"]
        canonical = canonicalize(id_type, vector["raw"])
        assert canonical == vector["canonical"]
        data = oprf.token_input(id_type, canonical)
        secret, public = ref.derive_key_pair(seed, oprf.key_info(id_type), 1)
        evaluator = oprf.evaluator_for(seed, id_type)
        assert ref.evaluate(secret, data)[:32].hex() == vector["token"]
        assert oprf.evaluate(evaluator, id_type, canonical) == vector["token"]
        # Our client with the reference evaluator.
        blinded = oprf.Blinded([data])
        evaluated = [ref.blind_evaluate(secret, blinded.elements[0])]
        proof = ref.generate_proof(secret, public, blinded.elements, evaluated)
        assert blinded.finalize(evaluated, proof, public) == [vector["token"]]
        # The reference client with our evaluator.
        scalar, element = ref.blind(data)
        [answer], proof = oprf.blind_evaluate(evaluator, [element])
        assert ref.verify_proof(public, [element], [answer], proof)
        assert ref.finalize(data, scalar, answer)[:32].hex() == vector["token"]


def test_a_tampered_or_foreign_answer_is_refused_by_our_client():
    seed = bytes(range(32))
    evaluator = oprf.evaluator_for(seed, "cn_mobile")
    other = oprf.evaluator_for(seed, "email")
    blinded = oprf.Blinded([oprf.token_input("cn_mobile", "13800138000"), oprf.token_input("cn_mobile", "13900139000")])
    evaluated, proof = oprf.blind_evaluate(evaluator, blinded.elements)
    key = oprf.public_key(evaluator)
    assert len(blinded.finalize(evaluated, proof, key)) == 2
    for bad_evaluated, bad_proof, bad_key in [
        (evaluated, bytes([proof[0] ^ 1]) + proof[1:], key),  # a proof flipped
        (evaluated[::-1], proof, key),  # elements swapped
        (evaluated, proof, oprf.public_key(other)),  # another type's key
        (oprf.blind_evaluate(other, blinded.elements)[0], oprf.blind_evaluate(other, blinded.elements)[1], key),
        (evaluated[:1], proof, key),
        (evaluated, proof[:32], key),
    ]:
        with pytest.raises(oprf.ProofError):
            blinded.finalize(bad_evaluated, bad_proof, bad_key)


@pytest.mark.parametrize(
    "element",
    [bytes(32), b"\xff" * 32, bytes.fromhex("01" + "00" * 31), b"\x00" * 31],
    ids=["identity", "not-canonical", "not-on-the-group", "short"],
)
def test_the_evaluator_names_the_first_bad_element_and_evaluates_nothing(element):
    evaluator = oprf.evaluator_for(bytes(range(32)), "cn_mobile")
    good = oprf.Blinded([b"a", b"b"]).elements
    with pytest.raises(oprf.ElementError) as caught:
        oprf.blind_evaluate(evaluator, [*good, element])
    assert caught.value.index == 2
