"""Identifier canonicalization and tokens, specification v1 (docs/identifier-tokens.md).

This module is the reference implementation that members reproduce in their
own languages. It imports nothing from Django, so the ``riskshare`` CLI can use
it on a member's machine without a server.

    canonicalize("cn_mobile", "+86 138-0013-8000")  ->  "13800138000"
    make_token(key, "cn_mobile", "+86 138-0013-8000")  ->  64 lowercase hex

Invalid input raises :class:`InvalidIdentifier` with a stable ``reason``; the
message never contains the raw value (it may be a real person's ID number).
"""

from __future__ import annotations

import datetime as dt
import hmac
import re
import unicodedata
from collections.abc import Callable
from zoneinfo import ZoneInfo

import idna

# Pure functions; importing them loads no Django settings.
from core.uscc import USCC_ALPHABET, uscc_check_character

__all__ = [
    "ID_TYPES",
    "TOKEN_PREFIX",
    "InvalidIdentifier",
    "canonicalize",
    "make_token",
    "token_for_canonical",
]

TOKEN_PREFIX = "riskshare:v1:"  # noqa: S105 - the public message prefix of the spec
# Birth dates are judged against the calendar day in China, where the IDs are issued.
_CHINA = ZoneInfo("Asia/Shanghai")


class InvalidIdentifier(ValueError):
    """An identifier that does not validate. ``reason`` is a stable machine code."""

    def __init__(self, id_type: str, reason: str):
        super().__init__(f"invalid {id_type}: {reason}")
        self.id_type = id_type
        self.reason = reason


def _prepare(raw: str) -> str:
    # NFKC turns full-width digits and letters (common in Chinese data entry) into
    # ASCII and U+3000 into a space; ASCII text is already in NFKC form.
    text = raw if raw.isascii() else unicodedata.normalize("NFKC", raw)
    return text.strip()


# --- cn_resident_id: GB 11643-1999, ISO 7064 MOD 11-2 -------------------------

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


def resident_id_check_character(first17: str) -> str:
    return _ID_CHECK[sum(int(d) * w for d, w in zip(first17, _ID_WEIGHTS, strict=True)) % 11]


def _check_birth_date(id_type: str, yyyymmdd: str) -> None:
    try:
        born = dt.date(int(yyyymmdd[:4]), int(yyyymmdd[4:6]), int(yyyymmdd[6:8]))
    except ValueError:
        raise InvalidIdentifier(id_type, "bad_date") from None
    if born > dt.datetime.now(_CHINA).date():
        raise InvalidIdentifier(id_type, "bad_date")


def _resident_id(value: str) -> str:
    t = "cn_resident_id"
    if len(value) == 18:
        value = value[:17] + value[17].upper()
        if not (value[:17].isdigit() and value[:17].isascii() and (value[17] in "0123456789X")):
            raise InvalidIdentifier(t, "bad_characters")
        _check_birth_date(t, value[6:14])
        if resident_id_check_character(value[:17]) != value[17]:
            raise InvalidIdentifier(t, "bad_check_character")
        return value
    if len(value) == 15:
        if not (value.isdigit() and value.isascii()):
            raise InvalidIdentifier(t, "bad_characters")
        first17 = value[:6] + "19" + value[6:]
        _check_birth_date(t, first17[6:14])
        return first17 + resident_id_check_character(first17)
    raise InvalidIdentifier(t, "bad_length")


# --- cn_mobile -------------------------------------------------------------------

_MOBILE_DROP = str.maketrans("", "", " -()")
_MOBILE = re.compile(r"1[3-9][0-9]{9}")


def _mobile(value: str) -> str:
    t = "cn_mobile"
    value = value.translate(_MOBILE_DROP)
    for prefix in ("+86", "0086", "86"):
        if value.startswith(prefix):
            value = value[len(prefix) :]
            break
    if not (value.isdigit() and value.isascii()):
        raise InvalidIdentifier(t, "bad_characters")
    if len(value) != 11:
        raise InvalidIdentifier(t, "bad_length")
    if not _MOBILE.fullmatch(value):
        raise InvalidIdentifier(t, "bad_format")
    return value


# --- cn_uscc: GB 32100-2015 (the same code identifies member institutions) ---------

_USCC_VALUES = frozenset(USCC_ALPHABET)


def _uscc(value: str) -> str:
    t = "cn_uscc"
    value = value.upper()
    if len(value) != 18:
        raise InvalidIdentifier(t, "bad_length")
    if any(c not in _USCC_VALUES for c in value):
        raise InvalidIdentifier(t, "bad_characters")
    if uscc_check_character(value[:17]) != value[17]:
        raise InvalidIdentifier(t, "bad_check_character")
    return value


# --- bank_card: Luhn -------------------------------------------------------------

_CARD_DROP = str.maketrans("", "", " -")


def luhn_valid(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        d = ord(char) - 48
        if position % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _bank_card(value: str) -> str:
    t = "bank_card"
    value = value.translate(_CARD_DROP)
    if not (value.isdigit() and value.isascii()):
        raise InvalidIdentifier(t, "bad_characters")
    if not 13 <= len(value) <= 19:
        raise InvalidIdentifier(t, "bad_length")
    if not luhn_valid(value):
        raise InvalidIdentifier(t, "bad_check_character")
    return value


# --- email -----------------------------------------------------------------------


def _email(value: str) -> str:
    t = "email"
    value = value.lower()
    if any(c.isspace() or unicodedata.category(c) == "Cc" for c in value):
        raise InvalidIdentifier(t, "bad_characters")
    if value.count("@") != 1:
        raise InvalidIdentifier(t, "bad_format")
    local, domain = value.split("@")
    if not local or not domain:
        raise InvalidIdentifier(t, "bad_format")
    if domain.endswith("."):
        domain = domain[:-1]  # the root label: "example.com." is "example.com"
    try:
        domain = idna.encode(domain, uts46=True, transitional=False).decode("ascii")
    except (idna.IDNAError, UnicodeError):
        raise InvalidIdentifier(t, "bad_domain") from None
    return f"{local}@{domain}"


# --- device_id -------------------------------------------------------------------

_HEX32 = re.compile(r"[0-9a-f]{32}")
_UUID_BRACED = re.compile(r"\{([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\}")
_DEVICE = re.compile(r"[0-9a-z._:-]+")


def _device_id(value: str) -> str:
    t = "device_id"
    value = value.lower()
    if value.startswith("urn:uuid:"):
        value = value[9:]
    braced = _UUID_BRACED.fullmatch(value)
    if braced:
        value = braced.group(1)
    elif _HEX32.fullmatch(value):
        value = f"{value[:8]}-{value[8:12]}-{value[12:16]}-{value[16:20]}-{value[20:]}"
    if not 8 <= len(value) <= 128:
        raise InvalidIdentifier(t, "bad_length")
    if not _DEVICE.fullmatch(value):
        raise InvalidIdentifier(t, "bad_characters")
    return value


_CANONICALIZERS: dict[str, Callable[[str], str]] = {
    "cn_resident_id": _resident_id,
    "cn_mobile": _mobile,
    "cn_uscc": _uscc,
    "bank_card": _bank_card,
    "email": _email,
    "device_id": _device_id,
}
ID_TYPES: tuple[str, ...] = tuple(_CANONICALIZERS)


def canonicalize(id_type: str, raw: str) -> str:
    """The canonical form of ``raw`` as an identifier of ``id_type``; raises InvalidIdentifier."""
    canonicalizer = _CANONICALIZERS.get(id_type)
    if canonicalizer is None:
        raise InvalidIdentifier(str(id_type)[:40], "unknown_type")
    if not isinstance(raw, str):
        raise InvalidIdentifier(id_type, "not_text")
    value = _prepare(raw)
    if not value:
        raise InvalidIdentifier(id_type, "empty")
    return canonicalizer(value)


def token_for_canonical(key: bytes, id_type: str, canonical: str) -> str:
    return hmac.digest(key, f"{TOKEN_PREFIX}{id_type}:{canonical}".encode(), "sha256").hex()


def make_token(key: bytes, id_type: str, raw: str) -> str:
    """HMAC-SHA256(key, "riskshare:v1:" + type + ":" + canonical), as 64 lowercase hex."""
    return token_for_canonical(key, id_type, canonicalize(id_type, raw))
