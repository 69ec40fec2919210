"""The token evaluator: the one process that holds the v2 key seeds (docs/operations.md, "The token evaluator").

    python -m sharing.tokens.evaluator --socket var/evaluator.sock --seed-file var/token-seeds.json

It answers the web processes over a local Unix socket (``evaluator_wire``) and does nothing else: it does not
authenticate, meter or audit (the web process does, before it asks), it never logs an element or an
identifier, and it has no database connection. Seeds live in a JSON file ``{"seeds": {"<version>": "<64 hex>"}}``
readable by the evaluator's user only; a version it does not know sends it back to the file (a seed added by
``seed_create`` or by hand is picked up without a restart). Later, threshold custody replaces the one seed per
version by shares held by separate evaluators; the tokens stay the same, so nothing here ties the platform to
one process.

No Django: the web process never imports the seeds, and this module never imports the web's settings.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import socketserver
import sys
import threading
from pathlib import Path
from typing import Any

from sharing.tokens import oprf
from sharing.tokens.evaluator_wire import frame_receive, frame_send
from sharing.tokens.identifiers import ID_TYPES, InvalidIdentifier, canonicalize

SEED_FILE_ENV = "RISKSHARE_EVALUATOR_SEED_FILE"
SOCKET_ENV = "RISKSHARE_EVALUATOR_SOCKET"


class SeedFileError(ValueError):
    """A seed file that is unreadable or malformed (the message never contains a seed)."""


def seeds_read(path: Path) -> dict[int, bytes]:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SeedFileError(f"cannot read the seed file {path}: {type(exc).__name__}") from None
    seeds = document.get("seeds") if isinstance(document, dict) else None
    if not isinstance(seeds, dict):
        raise SeedFileError(f'{path}: expected {{"seeds": {{version: hex}}}}')
    found = {}
    for version, value in seeds.items():
        if not version.isdigit() or not isinstance(value, str) or len(value) != 2 * oprf.SEED_BYTES:
            raise SeedFileError(f"{path}: version {version!r} has no 64-hex seed")
        try:
            found[int(version)] = bytes.fromhex(value)
        except ValueError:
            raise SeedFileError(f"{path}: version {version!r} has no 64-hex seed") from None
    return found


def seeds_write(path: Path, seeds: dict[int, bytes]) -> None:
    """Replace the seed file atomically, readable by its owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump({"seeds": {str(v): seed.hex() for v, seed in sorted(seeds.items())}}, handle)
        handle.write("\n")
    temporary.replace(path)


class Keys:
    """The seeds of one seed file and the key pairs derived from them, per (version, type)."""

    def __init__(self, seed_file: Path):
        self.seed_file = seed_file
        self._lock = threading.Lock()
        self._seeds = seeds_read(seed_file)
        self._evaluators: dict[tuple[int, str], Any] = {}

    def evaluator(self, version: int, id_type: str):
        if id_type not in ID_TYPES:
            raise LookupError("unknown_type")
        with self._lock:
            if version not in self._seeds:
                self._seeds = seeds_read(self.seed_file)
            seed = self._seeds.get(version)
            if seed is None:
                raise LookupError("unknown_version")
            key = (version, id_type)
            if key not in self._evaluators:
                self._evaluators[key] = oprf.evaluator_for(seed, id_type)
            return self._evaluators[key]

    def public_keys(self, version: int) -> dict[str, str]:
        return {id_type: oprf.public_key(self.evaluator(version, id_type)).hex() for id_type in ID_TYPES}

    def seed_create(self, version: int) -> dict[str, str]:
        """A new random seed for ``version``, written to the file; an existing version keeps its seed."""
        with self._lock:
            self._seeds = seeds_read(self.seed_file)
            if version not in self._seeds:
                self._seeds[version] = secrets.token_bytes(oprf.SEED_BYTES)
                seeds_write(self.seed_file, self._seeds)
        return self.public_keys(version)


def answer(keys: Keys, header: dict[str, Any], payload: bytes) -> tuple[dict[str, Any], bytes]:
    op, version, id_type = header.get("op"), header.get("version"), header.get("type")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        return {"error": "bad_request"}, b""
    try:
        if op == "public_keys":
            return {"public_keys": keys.public_keys(version)}, b""
        if op == "seed_create":
            return {"public_keys": keys.seed_create(version)}, b""
        if op == "evaluate":
            if len(payload) % oprf.ELEMENT_BYTES or len(payload) > oprf.MAX_ELEMENTS * oprf.ELEMENT_BYTES:
                return {"error": "bad_request"}, b""
            elements = [payload[i : i + oprf.ELEMENT_BYTES] for i in range(0, len(payload), oprf.ELEMENT_BYTES)]
            evaluated, proof = oprf.blind_evaluate(keys.evaluator(version, id_type), elements)
            return {"count": len(evaluated)}, proof + b"".join(evaluated)
        if op == "evaluate_full":
            evaluator = keys.evaluator(version, id_type)
            canonicals = json.loads(payload)
            if not isinstance(canonicals, list) or not all(isinstance(c, str) for c in canonicals):
                return {"error": "bad_request"}, b""
            # Only canonical values: the same value in another spelling would give another token.
            if any(canonicalize(id_type, c) != c for c in canonicals):
                return {"error": "not_canonical"}, b""
            tokens = [oprf.evaluate(evaluator, id_type, canonical) for canonical in canonicals]
            return {}, json.dumps(tokens).encode()
    except LookupError as exc:
        return {"error": str(exc.args[0])}, b""
    except oprf.ElementError as exc:
        return {"error": "bad_element", "index": exc.index}, b""
    except (InvalidIdentifier, ValueError):
        return {"error": "bad_request"}, b""
    return {"error": "bad_request"}, b""


class _Handler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        while True:
            try:
                header, payload = frame_receive(self.request)
            except (EOFError, OSError, ValueError):
                return
            reply, body = answer(self.server.keys, header, payload)
            try:
                frame_send(self.request, reply, body)
            except OSError:
                return


class EvaluatorServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    # A thread per web-process connection: the Rust evaluation releases the interpreter for part of its
    # work, so two batches on two cores take ~1.6 times one batch's time, not twice.
    daemon_threads = True

    def __init__(self, socket_path: Path, keys: Keys):
        socket_path.unlink(missing_ok=True)
        previous = os.umask(0o117)  # the socket: owner and group (the web's user) only
        try:
            super().__init__(str(socket_path), _Handler)
        finally:
            os.umask(previous)
        self.keys = keys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sharing.tokens.evaluator", description=__doc__.split("\n")[0])
    parser.add_argument("--socket", default=os.environ.get(SOCKET_ENV), help=f"Unix socket path (${SOCKET_ENV})")
    parser.add_argument(
        "--seed-file", default=os.environ.get(SEED_FILE_ENV), help=f"the seeds' JSON file (${SEED_FILE_ENV})"
    )
    args = parser.parse_args(argv)
    if not args.socket or not args.seed_file:
        parser.error(f"--socket and --seed-file (or ${SOCKET_ENV} and ${SEED_FILE_ENV}) are required")
    try:
        keys = Keys(Path(args.seed_file))
    except SeedFileError as exc:
        print(f"evaluator: {exc}", file=sys.stderr)
        return 1
    server = EvaluatorServer(Path(args.socket), keys)
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown, daemon=True).start())
    print(f"evaluator: listening on {args.socket}", file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        Path(args.socket).unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
