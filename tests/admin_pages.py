"""Helpers for tests that drive the admin as an operator would: GET the form, then POST what it holds."""

from __future__ import annotations

import re


def form_nonce(response) -> str:
    """The single-use nonce a rendered admin form carries."""
    match = re.search(rb'name="form_nonce" value="([^"]+)"', response.content)
    assert match, "the form carries no single-use nonce"
    return match.group(1).decode()
