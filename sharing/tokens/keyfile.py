"""Consortium key files: the JSON a member loads to compute tokens.

Format: ``{"version": N, "key": "<64 hex>", "check_value": "<16 hex>"}``.
Pure Python, no Django: the ``riskshare`` CLI reads these on members' machines.
"""

from __future__ import annotations

import hmac
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

KEY_BYTES = 32


class KeyFileError(ValueError):
    """A key file that is missing, unreadable or malformed (the message never includes the key)."""


@dataclass(frozen=True)
class ConsortiumKeyMaterial:
    version: int
    key: bytes

    @property
    def check_value(self) -> str:
        return key_check_value(self.key)


def key_check_value(key: bytes) -> str:
    return hmac.digest(key, b"riskshare:v1:key-check", "sha256").hex()[:16]


def key_generate(version: int) -> ConsortiumKeyMaterial:
    return ConsortiumKeyMaterial(version=version, key=secrets.token_bytes(KEY_BYTES))


def key_file_write(path: Path, material: ConsortiumKeyMaterial) -> None:
    """Write a new key file readable by its owner only; never overwrite one."""
    document = {"version": material.version, "key": material.key.hex(), "check_value": material.check_value}
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise KeyFileError(f"{path} already exists; refusing to overwrite a key file") from None
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(document, handle)
        handle.write("\n")


def key_file_read(path: Path | str) -> ConsortiumKeyMaterial:
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise KeyFileError(f"key file not found: {path}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise KeyFileError(f"cannot read key file {path}: {type(exc).__name__}") from None
    if not isinstance(document, dict):
        raise KeyFileError(f"{path}: expected a JSON object")
    version = document.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise KeyFileError(f"{path}: 'version' must be a positive integer")
    key_hex = document.get("key")
    if not isinstance(key_hex, str) or len(key_hex) != 2 * KEY_BYTES:
        raise KeyFileError(f"{path}: 'key' must be {2 * KEY_BYTES} hexadecimal characters")
    try:
        key = bytes.fromhex(key_hex)
    except ValueError:
        raise KeyFileError(f"{path}: 'key' must be {2 * KEY_BYTES} hexadecimal characters") from None
    material = ConsortiumKeyMaterial(version=version, key=key)
    declared = document.get("check_value")
    if declared is not None and declared != material.check_value:
        raise KeyFileError(f"{path}: the key does not match its check value (damaged file?)")
    return material
