"""The signed key directory's bytes: what the platform signs and the CLI checks. No Django."""

from __future__ import annotations

import json
from typing import Any


def directory_document(keys: list[dict[str, Any]]) -> bytes:
    """``{"keys": [...]}`` as canonical JSON: sorted keys, no spaces, UTF-8."""
    return json.dumps({"keys": keys}, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
