"""POST /api/v1/watches: 1–10,000 watches on a member's own borrowers, under one consent and key version.

Like batches (``sharing.records.contracts``), the body is decoded whole in one pass when it can be; otherwise
each watch is decoded on its own, so that the answer lists every watch's problems
``{"index", "field", "code", "message"}`` and the valid ones are still written. What concerns the whole
request (the key version, the consent reference) refuses it instead, as a 400.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal, NamedTuple

import msgspec
from django.utils.translation import gettext_noop

from sharing.common.contracts import (
    EXAMPLE_TOKENS,
    REFERENCE,
    TOO_MANY,
    Contract,
    Problem,
    invalid_body,
    json_load,
    problems,
    too_large,
    whole,
)
from sharing.lookups.contracts import ConsentReference, consent_problems, consent_text
from sharing.monitoring.models import MonitoringEvent
from sharing.records.contracts import rows_checked
from sharing.tokens.contracts import (
    MAX_IDENTIFIERS,
    Identifiers,
    KeyVersion,
    duplicate_types,
    key_version_problems,
    tokens_malformed,
)

MAX_WATCHES = 10_000
WATCH_YEARS_AHEAD = 10


class WatchItem(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    """One watch: your loan id, the borrower's identifiers, the day the loan's consent ends."""

    # Like a record's, its characters are checked for the whole request at once (watches_parse).
    reference: Annotated[
        str,
        msgspec.Meta(
            min_length=1,
            max_length=64,
            extra_json_schema={"pattern": whole(REFERENCE.pattern)},
            description=gettext_noop(
                "Your own loan id, unique among your watches: sent again, it replaces that watch."
            ),
        ),
    ]
    identifiers: Annotated[
        Identifiers, msgspec.Meta(max_length=MAX_IDENTIFIERS, description=gettext_noop("Each type once."))
    ]
    expires_on: Annotated[
        dt.date,
        msgspec.Meta(description=gettext_noop("The day the loan (and its consent) ends: not past, ≤ 10 years ahead.")),
    ]


_WATCHES = msgspec.Meta(
    min_length=1, max_length=MAX_WATCHES, extra={"code": TOO_MANY}, description=gettext_noop("1–10,000 watches.")
)


class WatchesRequest(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    """1–10,000 watches; each valid one is written, each invalid one listed in the answer's errors."""

    key_version: KeyVersion
    consent_reference: ConsentReference
    watches: Annotated[list[WatchItem], _WATCHES]


# The same body with each watch left undecoded, to decode them one by one when the whole does not.
_RawWatches = msgspec.defstruct(
    "WatchesRequest",
    [
        ("key_version", KeyVersion),
        ("consent_reference", ConsentReference),
        ("watches", Annotated[list[msgspec.Raw], _WATCHES]),
    ],
    forbid_unknown_fields=True,
)


class ValidWatch(NamedTuple):
    """A watch that passed, as the watches service writes it: identifiers as (type, token), by type."""

    index: int
    reference: str
    expires_on: dt.date
    identifiers: list[tuple[str, str]]


class WatchesCheck(NamedTuple):
    received: int
    key_version: int
    consent_reference: str  # as stored: trimmed (contracts.lookups.consent_text)
    valid: list[ValidWatch]
    errors: list[dict[str, Any]]  # {"index", "field", "code", "message"}, by index


def watches_rules(request: Any, *, current_versions: frozenset[int], retired_versions: frozenset[int]) -> list[Problem]:
    """What refuses the whole request: its key version and its consent reference (the lookups' rule)."""
    return key_version_problems(request.key_version, current_versions, retired_versions) + consent_problems(
        request.consent_reference
    )


def latest_expiry(today: dt.date) -> dt.date:
    """Ten years on; 29 February ten years on may not exist: the 28th then."""
    return today.replace(year=today.year + WATCH_YEARS_AHEAD, day=min(today.day, 28 if today.month == 2 else 31))


def watch_rules(
    watch: WatchItem, *, today: dt.date, latest: dt.date, characters_checked: bool = False
) -> list[Problem]:
    """What the types alone cannot say about one watch (with its reference's and tokens' characters, unless
    ``characters_checked`` for the whole request already)."""
    found: list[Problem] = []
    if not characters_checked:
        if REFERENCE.fullmatch(watch.reference) is None:
            found.append(("/reference", "bad_format"))
        found.extend(tokens_malformed(watch.identifiers))
    found.extend(duplicate_types(watch.identifiers))
    if watch.expires_on < today:
        found.append(("/expires_on", "past_date"))
    elif watch.expires_on > latest:
        found.append(("/expires_on", "too_far"))
    return found


_decoder = msgspec.json.Decoder(WatchesRequest)
_raw_decoder = msgspec.json.Decoder(_RawWatches)
_watch_decoder = msgspec.json.Decoder(WatchItem)
_NOT_DECODED = (msgspec.DecodeError, UnicodeDecodeError, RecursionError)


def watches_parse(
    body: bytes, *, today: dt.date, current_versions: frozenset[int], retired_versions: frozenset[int]
) -> WatchesCheck:
    """Every watch checked: the valid ones, and every problem of the others.

    A body that is not a watches request at all, or whose key version or consent reference is refused,
    raises instead: ``MalformedBody``, ``InvalidBody``, ``BodyTooLarge``.
    """
    try:
        request: Any = _decoder.decode(body)
        typed = True
    except _NOT_DECODED:
        request = _envelope_of(body)
        typed = False
    found = watches_rules(request, current_versions=current_versions, retired_versions=retired_versions)
    if found:
        raise invalid_body(found)
    watches: list[Any] = request.watches
    valid, errors = rows_checked(
        watches,
        typed=typed,
        decoder=_watch_decoder,
        of=WatchItem,
        rules=watch_rules,
        valid_of=_valid,
        today=today,
        latest=latest_expiry(today),
    )
    return WatchesCheck(len(watches), request.key_version, consent_text(request.consent_reference), valid, errors)


def _valid(index: int, watch: WatchItem) -> ValidWatch:
    pairs = sorted([(identifier.type, identifier.token) for identifier in watch.identifiers])
    return ValidWatch(index, watch.reference, watch.expires_on, pairs)


def _envelope_of(body: bytes) -> Any:
    """The request of a body that did not decode whole, its watches undecoded; its own problems raise."""
    try:
        return _raw_decoder.decode(body)
    except _NOT_DECODED:
        document = json_load(body)
    watches = document.get("watches") if type(document) is dict else None
    standing_in = type(watches) is list and 1 <= len(watches) <= MAX_WATCHES
    # The body's own problems, its watches aside (a list of an allowed length stands in as empty).
    found = problems({**document, "watches": []} if type(watches) is list else document, WatchesRequest)
    if type(watches) is list and len(watches) > MAX_WATCHES:
        found.append(("/watches", TOO_MANY))
    too_large(found)
    if standing_in:
        found.remove(("/watches", "bad_count"))
    raise invalid_body(found or [("", "invalid_type")])


WATCHES = Contract(
    WatchesRequest,
    rules=watches_rules,
    # A watch's own problems (watch_rules) are listed in the answer, not refused: only the request's.
    rule_codes=("consent_required", "retired_key_version", "unknown_key_version"),
    items_answered=True,
    examples={
        "Two loans, one borrower with two identifiers": {
            "key_version": 1,
            "consent_reference": "CONSENT-2026-000123",
            "watches": [
                {
                    "reference": "LOAN-2026-0001",
                    "identifiers": [
                        {"type": "cn_resident_id", "token": EXAMPLE_TOKENS[0]},
                        {"type": "cn_mobile", "token": EXAMPLE_TOKENS[1]},
                    ],
                    "expires_on": "2027-06-30",
                },
                {
                    "reference": "LOAN-2026-0002",
                    "identifiers": [{"type": "cn_resident_id", "token": EXAMPLE_TOKENS[2]}],
                    "expires_on": "2028-01-31",
                },
            ],
        }
    },
)


# POST /api/v1/webhook-endpoints and POST /api/v1/webhook-endpoints/{id}/replay.
MAX_URL = 2_000
MAX_EVENT_ID = 2**63 - 1


class WebhookEndpointRequest(msgspec.Struct, forbid_unknown_fields=True):
    """Where to receive your monitoring events, and which types; the answer shows the signing secret once."""

    url: Annotated[
        str,
        msgspec.Meta(
            min_length=1,
            max_length=MAX_URL,
            description=gettext_noop(
                "https only; its host may not resolve to a loopback, private, link-local or reserved address."
            ),
        ),
    ]
    types: Annotated[
        list[Literal[tuple(MonitoringEvent.Type.values)]],
        msgspec.Meta(description=gettext_noop("The event types to send; none (or an empty list): every type.")),
    ] = msgspec.UNSET


def endpoint_types(request: WebhookEndpointRequest) -> list[str]:
    return [] if request.types is msgspec.UNSET else list(request.types)


class ReplayRequest(msgspec.Struct, forbid_unknown_fields=True):
    """Send again every event after this id (dead letters included), and make the endpoint active again."""

    after: Annotated[
        int, msgspec.Meta(ge=0, le=MAX_EVENT_ID, description=gettext_noop("An event id; 0 for every event."))
    ]


WEBHOOK_ENDPOINT = Contract(
    WebhookEndpointRequest,
    examples={
        "Every event type": {"url": "https://hooks.lender.example/riskshare"},
        "Delinquencies and new records only": {
            "url": "https://hooks.lender.example/riskshare",
            "types": ["record.reported", "delinquency.escalated"],
        },
    },
)

REPLAY = Contract(ReplayRequest, examples={"Everything after event 1200": {"after": 1200}})
