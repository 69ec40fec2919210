"""C2SP signed-note (Ed25519) and tlog-checkpoint: the log's signed heads and its verifier key.

A checkpoint is the note text ``<origin>\\n<tree size>\\n<base64 root hash>\\n``; the signed note
adds a blank line and a signature line ``— <key name> <base64(key id || signature)>\\n``, the
signature covering the text with its final newline. The key id is the first four bytes of
SHA-256(key name || 0x0A || 0x01 || public key); the verifier key is
``<name>+<hex key id>+<base64(0x01 || public key)>``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

ED25519 = b"\x01"
SIGNATURE_PREFIX = "\u2014 "


class NoteError(ValueError):
    """A note, checkpoint or verifier key that does not parse or verify; the message says why."""


def _name_valid(name: str) -> bool:
    return bool(name) and "+" not in name and not any(c.isspace() for c in name)


def key_id(name: str, public: Ed25519PublicKey) -> bytes:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(name.encode() + b"\n" + ED25519 + raw).digest()[:4]


def verifier_key(name: str, public: Ed25519PublicKey) -> str:
    if not _name_valid(name):
        raise NoteError("a key name is non-empty, without spaces or '+'")
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return f"{name}+{key_id(name, public).hex()}+{base64.b64encode(ED25519 + raw).decode()}"


@dataclass(frozen=True)
class Verifier:
    name: str
    id: bytes
    public: Ed25519PublicKey


def verifier_parse(text: str) -> Verifier:
    parts = text.strip().split("+", 2)  # the base64 key may hold "+" itself
    if len(parts) != 3 or not _name_valid(parts[0]) or len(parts[1]) != 8:
        raise NoteError("not a verifier key <name>+<key id>+<key>")
    name, hex_id, encoded = parts
    try:
        key = base64.b64decode(encoded, validate=True)
        kid = bytes.fromhex(hex_id)
    except (binascii.Error, ValueError) as exc:
        raise NoteError("the verifier key's id or key is not hex and base64") from exc
    if len(key) != 33 or key[:1] != ED25519:
        raise NoteError("the verifier key is not an Ed25519 key")
    public = Ed25519PublicKey.from_public_bytes(key[1:])
    if key_id(name, public) != kid:
        raise NoteError("the verifier key's id does not match its name and key")
    return Verifier(name, kid, public)


def note_sign(text: str, *, name: str, private: Ed25519PrivateKey) -> str:
    if not text.endswith("\n") or "\n\n" in text:
        raise NoteError("a note text ends in one newline and has no blank line")
    signature = key_id(name, private.public_key()) + private.sign(text.encode())
    return f"{text}\n{SIGNATURE_PREFIX}{name} {base64.b64encode(signature).decode()}\n"


def note_open(note: str, verifier: Verifier) -> str:
    """The note's text, once a signature by ``verifier`` checks; NoteError otherwise."""
    if any(ord(c) < 0x20 and c != "\n" for c in note):
        raise NoteError("a note holds no control characters but newlines")
    split = note.rfind("\n\n")
    if split < 0 or not note.endswith("\n"):
        raise NoteError("not a signed note: no signature block")
    text, block = note[: split + 1], note[split + 2 :]
    found = False
    for line in block[:-1].split("\n"):
        if not line.startswith(SIGNATURE_PREFIX):
            raise NoteError("a signature line starts with an em dash and a space")
        try:
            name, encoded = line[len(SIGNATURE_PREFIX) :].split(" ")
            signature = base64.b64decode(encoded, validate=True)
        except (ValueError, binascii.Error) as exc:
            raise NoteError("a signature line is '— <name> <base64>'") from exc
        if len(signature) < 5:
            raise NoteError("a signature is a key id and at least one byte")
        if name != verifier.name or signature[:4] != verifier.id:
            continue  # another signer's line, e.g. a witness: ignored
        try:
            verifier.public.verify(signature[4:], text.encode())
        except InvalidSignature as exc:
            raise NoteError(f"the signature by {name} does not verify") from exc
        found = True
    if not found:
        raise NoteError(f"the note carries no signature by {verifier.name}")
    return text


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def text(self) -> str:
        lines = [self.origin, str(self.size), base64.b64encode(self.root).decode(), *self.extensions]
        return "\n".join(lines) + "\n"


def checkpoint_parse(text: str) -> Checkpoint:
    lines = text.split("\n")
    if len(lines) < 4 or lines[-1] != "" or not lines[0]:
        raise NoteError("a checkpoint is an origin, a tree size and a root hash, one a line")
    size_text, root_text = lines[1], lines[2]
    if not size_text.isdigit() or (size_text != "0" and size_text.startswith("0")) or not size_text.isascii():
        raise NoteError("the checkpoint's tree size is not a decimal number")
    try:
        root = base64.b64decode(root_text, validate=True)
    except binascii.Error as exc:
        raise NoteError("the checkpoint's root hash is not base64") from exc
    if len(root) != 32:
        raise NoteError("the checkpoint's root hash is not 32 bytes")
    return Checkpoint(lines[0], int(size_text), root, tuple(lines[3:-1]))


def checkpoint_open(note: str, verifier: Verifier, *, origin: str | None = None) -> Checkpoint:
    """A signed checkpoint, checked: signature by ``verifier``, and the origin when one is expected."""
    checkpoint = checkpoint_parse(note_open(note, verifier))
    if origin is not None and checkpoint.origin != origin:
        raise NoteError(f"the checkpoint's origin is {checkpoint.origin!r}, not {origin!r}")
    return checkpoint
