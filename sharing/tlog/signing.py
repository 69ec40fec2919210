"""The log's Ed25519 key (settings.RISKSHARE_LOG_SIGNING_KEY) and its C2SP verifier key. Django side."""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.conf import settings

from sharing.common.signing import ed25519_key_load
from sharing.tlog import note


def log_key() -> Ed25519PrivateKey:
    return ed25519_key_load("RISKSHARE_LOG_SIGNING_KEY")


def log_name() -> str:
    return settings.RISKSHARE_LOG_ORIGIN


def log_verifier_key() -> str:
    """``<name>+<key id>+<key>``: what members pin to check checkpoints."""
    return note.verifier_key(log_name(), log_key().public_key())


def checkpoint_sign(checkpoint: note.Checkpoint) -> str:
    return note.note_sign(checkpoint.text(), name=log_name(), private=log_key())
