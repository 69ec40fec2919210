"""POST /api/v1/lookups: up to 10,000 identifiers with a purpose, and the subject's consent where it needs one."""

from __future__ import annotations

import unicodedata
from typing import Annotated, Literal

import msgspec
from django.utils.translation import gettext_noop

from sharing.common.contracts import EXAMPLE_TOKENS, TOO_MANY, Contract, Problem, whole
from sharing.lookups.models import CONSENT_PURPOSES, LookupPurpose
from sharing.tokens.contracts import Identifiers, KeyVersion, tokens_malformed

MAX_IDENTIFIERS = 10_000
MAX_CONSENT = 200
MIN_CONSENT_VISIBLE = 4


# Post-loan watches take the same reference under the same rule (contracts.watches).
ConsentReference = Annotated[
    str,
    msgspec.Meta(
        max_length=MAX_CONSENT,
        # No control characters, C0 or C1: it is stored and shown to compliance staff.
        pattern=whole(r"[^\x00-\x1f\x7f-\x9f]*"),
        description=gettext_noop(
            "Your evidence of the subject's written consent: at least 4 visible characters once white space "
            "and format characters are trimmed from both ends."
        ),
        extra={"code": "consent_required"},
    ),
]


class LookupRequest(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    """Check identifiers against every member's reports; the answer never says who reported."""

    purpose: Annotated[
        Literal[tuple(LookupPurpose.values)],
        msgspec.Meta(description=gettext_noop("Why you look up; logged and shown in the self-inspection reports.")),
    ]
    key_version: KeyVersion
    identifiers: Annotated[
        Identifiers,
        msgspec.Meta(
            max_length=MAX_IDENTIFIERS,
            extra={"code": TOO_MANY},
            description=gettext_noop("1–10,000 identifiers, of one or several applicants."),
        ),
    ]
    consent_reference: Annotated[
        ConsentReference,
        msgspec.Meta(
            description=gettext_noop(
                "Your evidence of the subject's written consent: required for credit_application and "
                "account_opening, at least 4 visible characters once white space and format characters "
                "are trimmed from both ends."
            )
        ),
    ] = msgspec.UNSET


def consent_text(value: str | msgspec.UnsetType) -> str:
    """The consent reference as stored: trimmed of white space and format characters (U+200B…) at both ends.

    Empty unless at least 4 visible characters remain.
    """
    if value is msgspec.UNSET:
        return ""
    start, end = 0, len(value)
    while start < end and _blank(value[start]):
        start += 1
    while end > start and _blank(value[end - 1]):
        end -= 1
    trimmed = value[start:end]
    visible = sum(1 for character in trimmed if not _blank(character))
    return trimmed if visible >= MIN_CONSENT_VISIBLE else ""


def _blank(character: str) -> bool:
    return character.isspace() or unicodedata.category(character) in ("Cf", "Cc", "Zs")


def consent_problems(value: str | msgspec.UnsetType) -> list[Problem]:
    """The consent rule, for lookups that need consent and for watches: a reference that keeps 4 visible
    characters once trimmed (its length and characters are the Struct's, ``ConsentReference``)."""
    return [] if consent_text(value) else [("/consent_reference", "consent_required")]


def lookup_rules(request: LookupRequest) -> list[Problem]:
    found = tokens_malformed(request.identifiers)
    if request.purpose in CONSENT_PURPOSES:
        found.extend(consent_problems(request.consent_reference))
    return found


LOOKUP = Contract(
    LookupRequest,
    rules=lookup_rules,
    rule_codes=("bad_token", "consent_required"),
    examples={
        "A credit application": {
            "purpose": "credit_application",
            "consent_reference": "CONSENT-2026-000123",
            "key_version": 1,
            "identifiers": [
                {"type": "cn_resident_id", "token": EXAMPLE_TOKENS[0]},
                {"type": "cn_mobile", "token": EXAMPLE_TOKENS[1]},
            ],
        },
        "Post-loan monitoring (no consent reference needed)": {
            "purpose": "post_loan_monitoring",
            "key_version": 1,
            "identifiers": [{"type": "cn_resident_id", "token": EXAMPLE_TOKENS[0]}],
        },
    },
)
