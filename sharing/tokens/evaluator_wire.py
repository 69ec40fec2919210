"""The evaluator's local protocol: frames over a Unix socket, and the web process's side of it.

A frame is a 4-byte big-endian header length, a JSON header, then ``header["payload"]`` bytes. Requests:

- ``{"op": "public_keys", "version": V}`` → ``{"public_keys": {type: hex}}``
- ``{"op": "evaluate", "version": V, "type": T, "payload": 32·n}`` (n blinded elements) →
  ``{"count": n, "payload": 64 + 32·n}`` (the batched proof, then the evaluated elements)
- ``{"op": "evaluate_full", "version": V, "type": T, "payload": …}`` (a JSON list of canonical values) →
  ``{"payload": …}`` (a JSON list of tokens): the full Evaluate, for the operator's desk
- ``{"op": "seed_create", "version": V}`` → ``{"public_keys": …}``: a new seed, kept by the evaluator

An error answer is ``{"error": code, …}`` (``bad_element`` with its ``index``, ``unknown_version``,
``unknown_type``, ``bad_request``). No Django, no seed: whoever imports this module holds none.
"""

from __future__ import annotations

import json
import socket
import struct
import threading
from typing import Any

MAX_HEADER = 64 * 1024
MAX_PAYLOAD = 16 * 1024 * 1024
_LENGTH = struct.Struct(">I")


class EvaluatorUnavailable(OSError):
    """The evaluator cannot be reached or broke the protocol."""


class EvaluatorRefused(ValueError):
    """The evaluator refused a request: ``code`` and the answer's other fields."""

    def __init__(self, answer: dict[str, Any]):
        super().__init__(answer.get("error", "refused"))
        self.code = answer.get("error", "refused")
        self.answer = answer


def _receive_exactly(conn: socket.socket, size: int) -> bytes:
    chunks, remaining = [], size
    while remaining:
        chunk = conn.recv(min(remaining, 1 << 20))
        if not chunk:
            raise EOFError("connection closed")
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def frame_send(conn: socket.socket, header: dict[str, Any], payload: bytes = b"") -> None:
    encoded = json.dumps({**header, "payload": len(payload)}).encode()
    conn.sendall(_LENGTH.pack(len(encoded)) + encoded + payload)


def frame_receive(conn: socket.socket) -> tuple[dict[str, Any], bytes]:
    (length,) = _LENGTH.unpack(_receive_exactly(conn, _LENGTH.size))
    if length > MAX_HEADER:
        raise ValueError("header too long")
    header = json.loads(_receive_exactly(conn, length))
    size = header.get("payload", 0) if isinstance(header, dict) else None
    if not isinstance(size, int) or not 0 <= size <= MAX_PAYLOAD:
        raise ValueError("bad header")
    return header, _receive_exactly(conn, size)


class EvaluatorClient:
    """One connection per thread to the evaluator's socket, opened on first use and again after a failure."""

    def __init__(self, path: str, timeout: float = 30.0):
        self.path = path
        self.timeout = timeout
        self._local = threading.local()

    def _connection(self) -> socket.socket:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            conn.settimeout(self.timeout)
            try:
                conn.connect(self.path)
            except OSError as exc:
                conn.close()
                raise EvaluatorUnavailable(f"cannot reach the token evaluator at {self.path}: {exc}") from None
            self._local.conn = conn
        return conn

    def _drop(self) -> None:
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            conn.close()

    def call(self, header: dict[str, Any], payload: bytes = b"") -> tuple[dict[str, Any], bytes]:
        # One retry on a fresh connection: the evaluator may have restarted since this thread's last call
        # (every operation is a pure function of its input, so sending it twice is harmless).
        for attempt in (1, 2):
            try:
                conn = self._connection()
                frame_send(conn, header, payload)
                answer, body = frame_receive(conn)
                break
            except EvaluatorUnavailable:
                raise
            except (OSError, EOFError, ValueError) as exc:
                self._drop()
                if attempt == 2:
                    raise EvaluatorUnavailable(f"the token evaluator failed: {type(exc).__name__}") from None
        if "error" in answer:
            raise EvaluatorRefused(answer)
        return answer, body

    def public_keys(self, version: int) -> dict[str, str]:
        return self.call({"op": "public_keys", "version": version})[0]["public_keys"]

    def seed_create(self, version: int) -> dict[str, str]:
        return self.call({"op": "seed_create", "version": version})[0]["public_keys"]

    def evaluate(self, version: int, id_type: str, elements: list[bytes]) -> tuple[list[bytes], bytes]:
        """Evaluated elements and the batched proof (EvaluatorRefused ``bad_element`` names the index)."""
        answer, body = self.call({"op": "evaluate", "version": version, "type": id_type}, b"".join(elements))
        proof, rest = body[:64], body[64:]
        evaluated = [rest[start : start + 32] for start in range(0, len(rest), 32)]
        if answer.get("count") != len(elements) or len(evaluated) != len(elements) or len(proof) != 64:
            raise EvaluatorUnavailable("the token evaluator answered with the wrong number of elements")
        return evaluated, proof

    def evaluate_full(self, version: int, id_type: str, canonicals: list[str]) -> list[str]:
        payload = json.dumps(canonicals).encode()
        _answer, body = self.call({"op": "evaluate_full", "version": version, "type": id_type}, payload)
        return json.loads(body)
