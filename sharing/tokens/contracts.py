"""The contracts' vocabulary for identifiers and key versions, shared by every body that carries tokens."""

from __future__ import annotations

import re
from typing import Annotated, Literal

import msgspec
from django.utils.translation import gettext_noop

from sharing.common.contracts import Problem, whole
from sharing.tokens.identifiers import ID_TYPES

MAX_IDENTIFIERS = 8


MAX_KEY_VERSION = 2**31 - 1


TOKEN = re.compile("[0-9a-f]{64}")


KeyVersion = Annotated[
    int, msgspec.Meta(ge=1, le=MAX_KEY_VERSION, description=gettext_noop("A current consortium key version."))
]


class Identifier(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    """One identifier of a person, as its token (docs/identifier-tokens.md)."""

    type: Annotated[
        Literal[ID_TYPES], msgspec.Meta(description=gettext_noop("The identifier's type (docs/identifier-tokens.md)."))
    ]
    # The length is checked here, the characters of all a request's tokens at once (tokens_malformed):
    # a pattern per token costs ~0.8 µs, 1.6 µs of a record's ~10 µs; one pass over them all, ~0.02 µs.
    token: Annotated[
        str,
        msgspec.Meta(
            min_length=64,
            max_length=64,
            extra_json_schema={"pattern": whole(TOKEN.pattern)},
            extra={"code": "bad_token"},
            description=gettext_noop("HMAC-SHA256 of the canonical value under the consortium key: 64 lowercase hex."),
        ),
    ]


_HEX_DIGITS = b"0123456789abcdef"


def tokens_malformed(identifiers: list[Identifier], pointer: str = "/identifiers") -> list[Problem]:
    """The tokens that are not 64 lowercase hex digits (lengths are already checked), as problems."""
    joined = "".join([identifier.token for identifier in identifiers])
    if joined.isascii() and not joined.encode("ascii").translate(None, _HEX_DIGITS):
        return []
    return [
        (f"{pointer}/{position}/token", "bad_token")
        for position, identifier in enumerate(identifiers)
        if TOKEN.fullmatch(identifier.token) is None
    ]


Identifiers = Annotated[list[Identifier], msgspec.Meta(min_length=1)]


def key_version_problems(
    key_version: int, current_versions: frozenset[int], retired_versions: frozenset[int]
) -> list[Problem]:
    """A key version tokens may be computed under now: a current one."""
    if key_version in current_versions:
        return []
    return [("/key_version", "retired_key_version" if key_version in retired_versions else "unknown_key_version")]


def duplicate_types(identifiers: list[Identifier]) -> list[Problem]:
    """Each identifier type at most once: the second of a type is the problem."""
    found: list[Problem] = []
    if len({identifier.type for identifier in identifiers}) < len(identifiers):
        types: set[str] = set()
        for position, identifier in enumerate(identifiers):
            if identifier.type in types:
                found.append((f"/identifiers/{position}/type", "duplicate_type"))
            types.add(identifier.type)
    return found
