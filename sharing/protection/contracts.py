"""POST /api/v1/protective-registrations: a member registers its own customer's identity as at risk, with consent."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from django.utils.translation import gettext_noop

from sharing.common.contracts import EXAMPLE_TOKENS, Contract, Problem, whole
from sharing.protection.models import ProtectiveRegistration
from sharing.tokens.contracts import MAX_IDENTIFIERS, Identifiers, KeyVersion, duplicate_types, tokens_malformed


class ProtectiveRegistrationRequest(msgspec.Struct, forbid_unknown_fields=True):
    """The customer's identifiers, why their identity is at risk, and your evidence of their consent."""

    identifiers: Annotated[
        Identifiers, msgspec.Meta(max_length=MAX_IDENTIFIERS, description=gettext_noop("Each type once."))
    ]
    key_version: KeyVersion
    reason: Annotated[
        Literal[tuple(ProtectiveRegistration.Reason.values)],
        msgspec.Meta(description=gettext_noop("lost, stolen or misused identity documents.")),
    ]
    consent_reference: Annotated[
        str,
        msgspec.Meta(
            min_length=4,
            max_length=200,
            pattern=whole(r"[^\x00-\x1f\x7f-\x9f]*\S[^\x00-\x1f\x7f-\x9f]*"),
            description=gettext_noop("Your evidence of the person's written consent to the registration."),
            extra={"code": "consent_required"},
        ),
    ]


def registration_rules(request: ProtectiveRegistrationRequest) -> list[Problem]:
    return tokens_malformed(request.identifiers) + duplicate_types(request.identifiers)


PROTECTIVE_REGISTRATION = Contract(
    ProtectiveRegistrationRequest,
    rules=registration_rules,
    rule_codes=("bad_token", "duplicate_type"),
    examples={
        "A customer whose ID card was stolen": {
            "identifiers": [
                {"type": "cn_resident_id", "token": EXAMPLE_TOKENS[0]},
                {"type": "cn_mobile", "token": EXAMPLE_TOKENS[1]},
            ],
            "key_version": 1,
            "reason": "stolen",
            "consent_reference": "CONSENT-2026-000456",
        }
    },
)
