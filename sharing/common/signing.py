"""The platform's Ed25519 report-signing key, from settings.RISKSHARE_REPORT_SIGNING_KEY.

The setting holds a PEM private key, or the path of a file holding one. In development it names
``var/report-signing-key.pem``, created here on first use; in production it is required
(config/settings.py refuses to start without it).
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from sharing.common.crypto import public_key_fingerprint


def _pem_of(value: str, *, setting: str, dev_path: str, generate: bool) -> bytes:
    if value.lstrip().startswith("-----BEGIN"):
        return value.encode()
    path = Path(value)
    if generate and not path.exists() and path == Path(dev_path):
        path.parent.mkdir(parents=True, exist_ok=True)
        pem = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        # O_EXCL: two processes starting at once keep whichever key was written first.
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(pem)
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ImproperlyConfigured(f"{setting}: cannot read {value!r}: {exc}") from exc


def ed25519_key_load(setting: str) -> Ed25519PrivateKey:
    """The Ed25519 private key of ``setting`` (PEM text or a path); ``<setting>_DEV_PATH`` is generated
    on first use when ``<setting>_GENERATE`` (development)."""
    return _key_from(
        setting,
        getattr(settings, setting),
        getattr(settings, f"{setting}_DEV_PATH"),
        getattr(settings, f"{setting}_GENERATE"),
    )


@cache
def _key_from(setting: str, value: str, dev_path: str, generate: bool) -> Ed25519PrivateKey:
    pem = _pem_of(value, setting=setting, dev_path=dev_path, generate=generate)
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{setting} is not a PEM private key: {exc}") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise ImproperlyConfigured(f"{setting} must be an Ed25519 private key.")
    return key


def signing_key() -> Ed25519PrivateKey:
    return ed25519_key_load("RISKSHARE_REPORT_SIGNING_KEY")


def public_key_pem() -> bytes:
    return (
        signing_key()
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )


def signing_key_fingerprint() -> str:
    return public_key_fingerprint(signing_key().public_key())


def sign(data: bytes) -> bytes:
    return signing_key().sign(data)
