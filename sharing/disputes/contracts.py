"""POST /api/v1/disputes: a data subject's objection, filed through a member.

The smallest complete contract: a Struct with its per-field constraints, the cross-field rules,
and examples that tests/sharing/test_contracts.py holds valid.
"""

from __future__ import annotations

from typing import Annotated

import msgspec
from django.utils.translation import gettext_noop

from sharing.common.contracts import EXAMPLE_TOKENS, FREE_TEXT, REQUIRED_TEXT, Contract, Problem
from sharing.tokens.contracts import MAX_IDENTIFIERS, Identifiers, KeyVersion, duplicate_types, tokens_malformed

MAX_REASON = 2_000
MAX_STATEMENT = 4_000


class DisputeRequest(msgspec.Struct, forbid_unknown_fields=True):
    """Every standing record with one of these tokens (or the one named) is marked disputed at once."""

    identifiers: Annotated[
        Identifiers, msgspec.Meta(max_length=MAX_IDENTIFIERS, description=gettext_noop("Each type once."))
    ]
    key_version: KeyVersion
    reason: Annotated[
        str,
        msgspec.Meta(
            max_length=MAX_REASON,
            pattern=REQUIRED_TEXT,
            description=gettext_noop("The subject's objection."),
            extra={"code": "bad_text"},
        ),
    ]
    record: Annotated[
        int, msgspec.Meta(ge=1, le=2**63 - 1, description=gettext_noop("The platform id of the one record disputed."))
    ] = msgspec.UNSET
    statement: Annotated[
        str,
        msgspec.Meta(
            max_length=MAX_STATEMENT,
            pattern=FREE_TEXT,
            description=gettext_noop("The subject's own statement (本人声明)."),
            extra={"code": "bad_text"},
        ),
    ] = msgspec.UNSET


def dispute_rules(request: DisputeRequest) -> list[Problem]:
    return tokens_malformed(request.identifiers) + duplicate_types(request.identifiers)


DISPUTE = Contract(
    DisputeRequest,
    rules=dispute_rules,
    rule_codes=("bad_token", "duplicate_type"),
    examples={
        "A loan taken in the subject's name": {
            "identifiers": [{"type": "cn_resident_id", "token": EXAMPLE_TOKENS[0]}],
            "key_version": 1,
            "record": 1234,
            "reason": "The subject says the loan was taken in their name.",
            "statement": "本人声明：该笔贷款非本人申请。",
        }
    },
)
