"""The unified social credit code (统一社会信用代码, GB 32100-2015): its alphabet and check character.

Pure Python, no Django: institutions are identified by it (``members.validators``), the identifier type
``cn_uscc`` canonicalizes with it (``sharing.tokens.identifiers``), and the member-side CLI runs that.
"""

from __future__ import annotations

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_USCC_VALUES = {char: index for index, char in enumerate(USCC_ALPHABET)}


def uscc_check_character(first17: str) -> str:
    total = sum(_USCC_VALUES[char] * weight for char, weight in zip(first17, _USCC_WEIGHTS, strict=True))
    return USCC_ALPHABET[(31 - total % 31) % 31]


def uscc_problem(code: str) -> str | None:
    """Return a reason code if ``code`` is not a valid USCC, else ``None``."""
    if len(code) != 18:
        return "bad_length"
    if any(char not in USCC_ALPHABET for char in code):
        return "bad_characters"
    if uscc_check_character(code[:17]) != code[17]:
        return "bad_check_character"
    return None
