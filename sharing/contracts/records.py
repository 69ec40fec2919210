"""POST /api/v1/records/{reference}/resolve and /retract; POST /api/v1/alerts/{id}/ack."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import msgspec
from django.utils.translation import gettext_noop

from sharing.contracts.base import REQUIRED_TEXT, Contract, Problem, date_problem


class ResolveRequest(msgspec.Struct, forbid_unknown_fields=True):
    """The adverse event ended (the debt was repaid) on this day."""

    resolved_date: Annotated[
        dt.date, msgspec.Meta(description=gettext_noop("Not in the future, not before the event date."))
    ]


def resolve_rules(request: ResolveRequest, *, today: dt.date) -> list[Problem]:
    code = date_problem(request.resolved_date, today=today)
    return [("/resolved_date", code)] if code else []


class RetractRequest(msgspec.Struct, forbid_unknown_fields=True):
    """Withdraw a record reported in error."""

    reason: Annotated[
        str,
        msgspec.Meta(
            max_length=2_000,
            pattern=REQUIRED_TEXT,
            extra={"code": "bad_text"},
            description=gettext_noop("Why the record is withdrawn; kept with it."),
        ),
    ]


class AcknowledgeRequest(msgspec.Struct, forbid_unknown_fields=True):
    """No fields: send no body, or ``{}``."""


RESOLVE = Contract(
    ResolveRequest,
    rules=resolve_rules,
    rule_codes=("future_date", "bad_date"),
    examples={"Repaid": {"resolved_date": "2026-11-20"}},
)
RETRACT = Contract(RetractRequest, examples={"Wrong person": {"reason": "Reported in error."}})
ACKNOWLEDGE = Contract(AcknowledgeRequest, examples={"Nothing to say": {}}, optional=True)
