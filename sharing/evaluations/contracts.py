"""POST /api/v1/tokens/evaluate: a member's blinded identifiers of one type, under one v2 key version."""

from __future__ import annotations

import base64
import binascii
import re
from typing import Annotated, Literal

import msgspec
from django.utils.translation import gettext_noop

from sharing.common.contracts import TOO_MANY, Contract, Problem, whole
from sharing.tokens.contracts import KeyVersion
from sharing.tokens.identifiers import ID_TYPES
from sharing.tokens.oprf import MAX_ELEMENTS

# 32 bytes in standard base64: 43 characters and one "=", the last character before it one of 16.
ELEMENT = re.compile(r"[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=")

# Blinded elements of the documentation's examples (valid ristretto255 encodings; any will do).
EXAMPLE_ELEMENTS = (
    "EkJv3IvKh9Io4JtdZKboWSbjZkL9PyQ4KWsL+9usKVo=",
    "GPNhziZorjNAhzuqKiOF9vYV1nla2SB6HrVogGOsDls=",
)


class EvaluateRequest(msgspec.Struct, forbid_unknown_fields=True):
    """Blinded elements (RFC 9497 BlindedElement, base64) to be evaluated under one v2 key's key for ``type``."""

    key_version: KeyVersion
    type: Annotated[
        Literal[ID_TYPES],
        msgspec.Meta(description=gettext_noop("The identifier type every element was blinded as.")),
    ]
    blinded: Annotated[
        list[
            Annotated[
                str,
                msgspec.Meta(
                    min_length=44,
                    max_length=44,
                    extra_json_schema={"pattern": whole(ELEMENT.pattern)},
                    extra={"code": "bad_element"},
                    description=gettext_noop("A blinded ristretto255 element: 32 bytes, standard base64."),
                ),
            ]
        ],
        msgspec.Meta(
            min_length=1,
            max_length=MAX_ELEMENTS,
            extra={"code": TOO_MANY},
            description=gettext_noop("1–10,000 blinded elements."),
        ),
    ]


def evaluate_rules(request: EvaluateRequest) -> list[Problem]:
    return [
        (f"/blinded/{index}", "bad_element")
        for index, element in enumerate(request.blinded)
        if ELEMENT.fullmatch(element) is None
    ]


def elements_decode(request: EvaluateRequest) -> list[bytes]:
    try:
        return [base64.b64decode(element, validate=True) for element in request.blinded]
    except binascii.Error:  # the rules have checked every element's characters: unreachable
        raise ValueError("undecodable element") from None


EVALUATE = Contract(
    EvaluateRequest,
    rules=evaluate_rules,
    rule_codes=("bad_element",),
    examples={
        "Two mobile numbers, blinded": {"key_version": 2, "type": "cn_mobile", "blinded": list(EXAMPLE_ELEMENTS)},
    },
)
