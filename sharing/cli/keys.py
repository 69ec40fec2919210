"""``riskshare keys fetch`` and ``riskshare selftest``: the v2 public keys, pinned; the v2 arithmetic, checked.

``keys fetch`` reads GET /api/v1/tokens/keys, checks the platform's Ed25519 signature over it (the report key:
from --public-key, or fetched and held to --fingerprint) and writes the directory to a file that ``tokenize``
then trusts instead of the server: a server that later served other keys could not make the CLI accept them.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import sys
from pathlib import Path
from typing import Any

from sharing.cli.common import CliError, http_options, input_file
from sharing.tokens.directory import directory_document

KEYS_FILE_ENV = "RISKSHARE_TOKEN_KEYS_FILE"


def register(commands, formatter: type[argparse.HelpFormatter]) -> None:
    keys = commands.add_parser(
        "keys",
        allow_abbrev=False,
        formatter_class=formatter,
        help="fetch and pin the platform's token keys (v2)",
        description="Token key versions and their public keys, as the platform signs them.",
    )
    actions = keys.add_subparsers(dest="action", required=True, metavar="ACTION")
    fetch = actions.add_parser(
        "fetch",
        formatter_class=formatter,
        help="download the signed key directory, check its signature, write it to a file",
        description=(
            "Download GET /api/v1/tokens/keys, check its Ed25519 signature with the platform's report key "
            "(--public-key FILE, or fetched from the server and compared with --fingerprint) and write the "
            "verified directory to -o (default: $RISKSHARE_TOKEN_KEYS_FILE). tokenize checks every "
            "evaluation's proof against the public keys in that file. Without --public-key or --fingerprint "
            "the served key is trusted on first use: compare the printed fingerprint with the one the operator "
            "published."
        ),
    )
    fetch.add_argument("-o", "--output", default=os.environ.get(KEYS_FILE_ENV) or None, help="keys file to write")
    fetch.add_argument("--public-key", help="the platform's report public key (PEM file)")
    fetch.add_argument("--fingerprint", help="expected fingerprint (hex) of the report key when fetching it")
    http_options(fetch)
    fetch.set_defaults(handler=keys_fetch)

    selftest = commands.add_parser(
        "selftest",
        allow_abbrev=False,
        formatter_class=formatter,
        help="check the v2 token arithmetic on this machine against the RFC 9497 and riskshare vectors",
        description=(
            "Run the RFC 9497 test vectors (ristretto255-SHA512, VOPRF) and riskshare's own v2 vectors "
            "(docs/identifier-token-vectors-v2.json) through this machine's blinding, proof check and "
            "finalization, and check that a tampered proof is refused. Exit 0 when all pass."
        ),
    )
    selftest.set_defaults(handler=selftest_run)


def _get_json(url: str, timeout: float) -> Any:
    import httpx

    try:
        response = httpx.get(url, timeout=timeout, follow_redirects=True)
    except httpx.TransportError as exc:
        raise CliError(f"cannot fetch {url}: {exc}") from None
    if response.status_code != 200:
        raise CliError(f"cannot fetch {url}: HTTP {response.status_code}")
    return response.json()


def keys_fetch(args: argparse.Namespace) -> int:
    from sharing.common.crypto import public_key_fingerprint
    from sharing.reports.verify import public_key_load

    if not args.output:
        raise CliError(f"name the keys file with -o or ${KEYS_FILE_ENV}")
    base = args.url.rstrip("/")
    if args.public_key:
        pem = input_file(args.public_key).read_bytes()
    else:
        pem = _get_json(base + "/api/v1/reports/public-key", args.timeout)["public_key_pem"].encode()
    try:
        public_key = public_key_load(pem)
    except ValueError as exc:
        raise CliError(f"unusable public key: {exc}") from None
    fingerprint = public_key_fingerprint(public_key)
    if args.fingerprint and args.fingerprint.lower() != fingerprint:
        raise CliError(f"the platform's key has fingerprint {fingerprint}, not the expected {args.fingerprint}")
    document = _get_json(base + "/api/v1/tokens/keys", args.timeout)
    from cryptography.exceptions import InvalidSignature

    try:
        signed = base64.b64decode(document["signed"], validate=True)
        public_key.verify(base64.b64decode(document["signature"], validate=True), signed)
    except (KeyError, ValueError, InvalidSignature):
        raise CliError("the key directory's signature does not verify: keys NOT written") from None
    keys = json.loads(signed)["keys"]
    if directory_document(keys) != signed:
        raise CliError("the key directory is not in its canonical form: keys NOT written")
    output = Path(args.output)
    temporary = output.with_name(f".{output.name}.partial")
    temporary.write_text(json.dumps({"keys": keys, "signed_by": fingerprint}, indent=1) + "\n", encoding="utf-8")
    temporary.replace(output)
    current = [f"v{k['version']} ({k['scheme']})" for k in keys if k["state"] == "current"]
    print(
        f"riskshare: {len(keys)} key version(s) verified (signed by {fingerprint}); current: {', '.join(current)}; "
        f"written to {output}",
        file=sys.stderr,
    )
    return 0


def pinned_key(path: str | None, version: int | None) -> dict[str, Any]:
    """The v2 key version from a keys file written by ``keys fetch``: the one named, else the newest current."""
    path = path or os.environ.get(KEYS_FILE_ENV)
    if not path:
        raise CliError(f"no keys file: run `riskshare keys fetch -o KEYS.json` and pass --keys or ${KEYS_FILE_ENV}")
    try:
        keys = json.loads(input_file(path).read_text(encoding="utf-8"))["keys"]
    except (ValueError, KeyError, TypeError):
        raise CliError(f"{path} is not a keys file of `riskshare keys fetch`") from None
    v2 = [k for k in keys if k.get("scheme") == "voprf-v2"]
    if version is not None:
        chosen = next((k for k in keys if k.get("version") == version), None)
        if chosen is None:
            raise CliError(f"key version {version} is not in {path}; run `riskshare keys fetch` again")
        if chosen.get("scheme") != "voprf-v2":
            raise CliError(f"key version {version} is a v1 consortium key: tokenize it with --key-file")
    else:
        current = [k for k in v2 if k.get("state") == "current"]
        if not current:
            raise CliError(f"{path} has no current v2 key version")
        chosen = max(current, key=lambda k: k["version"])
    if chosen.get("state") != "current":
        raise CliError(f"key version {chosen['version']} is retired")
    return chosen


def selftest_run(args: argparse.Namespace) -> int:
    from importlib.resources import files

    from sharing.tokens import oprf
    from sharing.tokens.identifiers import canonicalize

    checked = failed = 0

    def check(ok: bool, what: str) -> None:
        nonlocal checked, failed
        checked += 1
        if not ok:
            failed += 1
            print(f"FAIL: {what}", file=sys.stderr)

    package = files("sharing.tokens")
    suites = json.loads((package / "rfc9497-vectors.json").read_text(encoding="utf-8"))
    suite = next(s for s in suites if s["identifier"] == oprf.SUITE and s["mode"] == 1)
    evaluator = oprf.ristretto.Evaluator.from_seed(bytes.fromhex(suite["seed"]), bytes.fromhex(suite["keyInfo"]))
    public = oprf.public_key(evaluator)
    check(public.hex() == suite["pkSm"], "RFC 9497 DeriveKeyPair")
    for number, vector in enumerate(suite["vectors"], start=1):
        inputs = [bytes.fromhex(x) for x in vector["Input"].split(",")]
        blinded = [bytes.fromhex(x) for x in vector["BlindedElement"].split(",")]
        evaluated, _proof = oprf.blind_evaluate(evaluator, blinded)
        check(",".join(e.hex() for e in evaluated) == vector["EvaluationElement"], f"RFC vector {number} evaluation")
        outputs = [evaluator.evaluate_known_input(data).hex() for data in inputs]
        check(outputs == vector["Output"].split(","), f"RFC vector {number} output")
        ours = oprf.Blinded(inputs)
        answer, proof = oprf.blind_evaluate(evaluator, ours.elements)
        tokens = ours.finalize(answer, proof, public)
        check(tokens == [o[:64] for o in vector["Output"].split(",")], f"RFC vector {number} blind/finalize")
    document = json.loads((package / "identifier-token-vectors-v2.json").read_text(encoding="utf-8"))
    seed = bytes.fromhex(document["test_seed_hex"])
    for vector in (v for v in document["vectors"] if "token" in v):
        id_type = vector["type"]
        type_evaluator = oprf.evaluator_for(seed, id_type)
        check(oprf.public_key(type_evaluator).hex() == document["public_keys"][id_type], f"{id_type} public key")
        canonical = canonicalize(id_type, vector["raw"])
        ours = oprf.Blinded([oprf.token_input(id_type, canonical)])
        answer, proof = oprf.blind_evaluate(type_evaluator, ours.elements)
        check(ours.finalize(answer, proof, oprf.public_key(type_evaluator)) == [vector["token"]], vector["note"])
        try:
            ours.finalize(answer, bytes([proof[0] ^ 1]) + proof[1:], oprf.public_key(type_evaluator))
            check(False, "a tampered proof was accepted")
        except oprf.ProofError:
            check(True, "")
    if failed:
        print(f"riskshare: selftest FAILED: {failed} of {checked} checks", file=sys.stderr)
        return 1
    print(f"riskshare: selftest passed: {checked} checks (RFC 9497 ristretto255-SHA512 VOPRF, riskshare v2)")
    return 0
