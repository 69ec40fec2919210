"""The secrets of production mode, for the test session and for the processes tests start.

``uv run pytest`` on a fresh clone runs with no environment at all, and CI (.ci/run) passes on only
``DATABASE_URL`` and ``CELERY_BROKER_URL``: no test may lean on a secret its runner happened to export.

- Loaded as a plugin (``-p tests.environment`` in pyproject.toml): in production mode (``DATABASE_URL``
  set, ``DEBUG`` off) the session makes throwaway secrets for its own process while its settings load,
  then takes them out of ``os.environ`` again, so that a process a test starts gets what its test gives it.
- A process started with ``DEBUG`` off gets them from here: ``production_secrets()``, fresh ones for a
  platform of its own, or ``session_secrets()``, this session's, for one that shares the session's
  database (a worker, the README's commands) and must pepper, seal and sign as the session does.

Importing this module imports no Django: bench/ uses it outside any test session.
"""

from __future__ import annotations

import os
import secrets

import pytest

SIGNING_KEYS = ("RISKSHARE_REPORT_SIGNING_KEY", "RISKSHARE_LOG_SIGNING_KEY")


def _ed25519_pem(key=None) -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = key or Ed25519PrivateKey.generate()
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def production_secrets() -> dict[str, str]:
    """Fresh throwaway values of every secret config/settings.py requires with DEBUG off."""
    return {
        "SECRET_KEY": secrets.token_urlsafe(50),
        "RISKSHARE_PEPPER": secrets.token_urlsafe(48),
        **{name: _ed25519_pem() for name in SIGNING_KEYS},
    }


def session_secrets() -> dict[str, str]:
    """This test session's own secrets, the signing keys as PEM text (in development they are files under
    var/, made on first use: loading them here makes them as the session itself would)."""
    from django.conf import settings

    from sharing.common.signing import ed25519_key_load

    return {
        "SECRET_KEY": settings.SECRET_KEY,
        "RISKSHARE_PEPPER": settings.RISKSHARE_PEPPER.decode(),
        **{name: _ed25519_pem(ed25519_key_load(name)) for name in SIGNING_KEYS},
    }


def _production_mode() -> bool:
    # config/settings.py's rule: DEBUG as given, else on with the embedded database (DATABASE_URL unset).
    debug = os.environ.get("DEBUG", "")
    if debug:
        return debug.lower() in {"0", "false", "no", "off"}
    return bool(os.environ.get("DATABASE_URL"))


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_load_initial_conftests(early_config, parser, args):
    # pytest-django loads the settings in this hook, before any conftest.
    added = {}
    if _production_mode():
        added = {name: value for name, value in production_secrets().items() if not os.environ.get(name)}
    os.environ.update(added)
    try:
        return (yield)
    finally:
        for name in added:
            os.environ.pop(name, None)
