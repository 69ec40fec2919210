"""The request bodies of post-loan monitoring, one msgspec Struct each.

Each Struct is the one definition of its body: the decoder validates with it, the error codes come from
what it refused (``problem_of``), and the OpenAPI request schema is generated from it (``openapi_schema``).
Written self-contained so that it can be folded into a shared contracts module as one.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from typing import Annotated, Any, Literal

import msgspec
from django.utils.translation import gettext_lazy as _

from sharing.contracts.batches import MAX_IDENTIFIERS, tokens_malformed
from sharing.contracts.lookups import consent_text
from sharing.identifiers import ID_TYPES

MAX_WATCHES = 10_000
WATCH_YEARS_AHEAD = 10
REFERENCE_PATTERN = r"^[A-Za-z0-9._:-]{1,64}$"
TOKEN_PATTERN = r"^[0-9a-f]{64}$"  # noqa: S105 - a pattern, not a secret
CONSENT_RULE = "Trimmed: 4 to 200 visible characters, no control characters."
EVENT_TYPES = (
    "record.reported",
    "delinquency.escalated",
    "inquiries.threshold",
    "record.ended",
    "dispute.opened",
    "dispute.settled",
    "loan.opened",
    "exposure.increased",
)


class WatchIdentifier(msgspec.Struct, forbid_unknown_fields=True):
    """The token's length is checked in the decoder, its characters for all a request's tokens at once
    (``tokens_check``): a pattern per token cost 45 ms a 10,000-watch request; the schema keeps the pattern."""

    type: Literal[ID_TYPES]
    token: Annotated[str, msgspec.Meta(min_length=64, max_length=64, extra_json_schema={"pattern": TOKEN_PATTERN})]


class WatchIn(msgspec.Struct, forbid_unknown_fields=True):
    """One watch: the member's loan id, the borrower's identifiers, the day the loan's consent ends."""

    reference: Annotated[str, msgspec.Meta(pattern=REFERENCE_PATTERN)]
    identifiers: Annotated[list[WatchIdentifier], msgspec.Meta(min_length=1, max_length=MAX_IDENTIFIERS)]
    expires_on: dt.date


class WatchesIn(msgspec.Struct, forbid_unknown_fields=True):
    """POST /api/v1/watches: 1–10,000 watches under one consent reference and key version."""

    key_version: Annotated[int, msgspec.Meta(ge=1)]
    consent_reference: Annotated[str, msgspec.Meta(max_length=400, description=CONSENT_RULE)]
    watches: Annotated[list[WatchIn], msgspec.Meta(min_length=1, max_length=MAX_WATCHES)]


class _WatchesEnvelope(msgspec.Struct, forbid_unknown_fields=True):
    # WatchesIn with the rows left undecoded, so that each row's problems are its own (per-row errors).
    key_version: Annotated[int, msgspec.Meta(ge=1)]
    consent_reference: Annotated[str, msgspec.Meta(max_length=400, description=CONSENT_RULE)]
    watches: Annotated[list[msgspec.Raw], msgspec.Meta(min_length=1)]


class WebhookEndpointIn(msgspec.Struct, forbid_unknown_fields=True):
    """POST /api/v1/webhook-endpoints. No ``types``, or an empty list: every type."""

    url: Annotated[str, msgspec.Meta(min_length=1, max_length=2000)]
    types: list[Literal[EVENT_TYPES]] = []


class ReplayIn(msgspec.Struct, forbid_unknown_fields=True):
    """POST /api/v1/webhook-endpoints/{id}/replay: send again every event after this id."""

    after: Annotated[int, msgspec.Meta(ge=0)]


MESSAGES = {
    "required": _("This field is required."),
    "unknown_field": _("This field is not allowed here."),
    "invalid_type": _("This field has the wrong JSON type."),
    "bad_format": _("This value does not have the required format."),
    "bad_token": _("A token is 64 lowercase hexadecimal characters."),
    "invalid_choice": _("This value is not one of the allowed choices."),
    "bad_count": _("This list has too few or too many items."),
    "bad_date": _("A date is written YYYY-MM-DD and must exist."),
    "min_value": _("This value is too small."),
    "invalid": _("This value is not valid."),
    "duplicate_type": _("Each identifier type may appear once per watch."),
    "duplicate_reference": _("This reference appears earlier in the same request."),
    "past_date": _("This date is in the past."),
    "too_far": _("A watch expires at most 10 years ahead."),
    "watch_limit": _("This member has reached its limit of watches."),
    "bad_consent_reference": _("A consent reference has 4 to 200 visible characters and no control characters."),
}

_AT = re.compile(r" - at `\$(.*)`$")
_FIELD_NAME = re.compile(r"field `(.+?)`")


def problem_of(exc: msgspec.ValidationError) -> tuple[str, str]:
    """The JSON Pointer and machine code of what a Struct refused."""
    message = str(exc)
    match = _AT.search(message)
    path = match.group(1) if match else ""
    pointer = re.sub(r"\[(\d+)\]", r"/\1", path).replace(".", "/")
    if message.startswith("Object missing required field") or message.startswith("Object contains unknown field"):
        name = _FIELD_NAME.search(message)
        pointer = f"{pointer}/{name.group(1) if name else ''}"
        code = "required" if "missing" in message else "unknown_field"
    elif "matching regex" in message:
        code = "bad_token" if pointer.endswith("/token") else "bad_format"
    elif message.startswith("Expected `array` of length"):
        code = "bad_count"
    elif message.startswith("Expected `str` of length"):
        code = "bad_token" if pointer.endswith("/token") else "bad_format"
    elif message.startswith("Invalid enum value"):
        code = "invalid_choice"
    elif message.startswith("Invalid RFC3339 encoded date") or "`date`" in message:
        code = "bad_date"
    elif message.startswith("Expected `int` >="):
        code = "min_value"
    elif message.startswith("Expected"):
        code = "invalid_type"
    else:
        code = "invalid"
    return pointer, code


def row_error(index: int, field: str, code: str) -> dict[str, Any]:
    return {"index": index, "field": field, "code": code, "message": str(MESSAGES[code])}


def consent_reference_clean(value: str) -> str | None:
    """The consent reference as stored, or None when it breaks the lookups' rule (sharing.contracts.lookups)."""
    if len(value) > 200 or any(unicodedata.category(c) == "Cc" for c in value):
        return None
    return consent_text(value) or None


_envelope = msgspec.json.Decoder(_WatchesEnvelope)
_row = msgspec.json.Decoder(WatchIn)
_whole = msgspec.json.Decoder(WatchesIn)


def watches_decode(body: bytes) -> tuple[_WatchesEnvelope, list[WatchIn | None], list[dict[str, Any]]]:
    """The envelope, each row decoded (None where refused), and the per-row errors.

    Raises msgspec.DecodeError (not JSON) or msgspec.ValidationError (the envelope itself).
    The whole body is tried first: when every row is valid, that is one pass in C.
    """
    try:
        whole = _whole.decode(body)
    except msgspec.ValidationError:
        pass
    else:
        envelope = _WatchesEnvelope(whole.key_version, whole.consent_reference, [])
        rows: list[WatchIn | None] = list(whole.watches)
        return envelope, rows, tokens_check(rows)
    envelope = _envelope.decode(body)
    rows: list[WatchIn | None] = []
    errors: list[dict[str, Any]] = []
    for index, raw in enumerate(envelope.watches):
        try:
            rows.append(_row.decode(raw))
        except msgspec.ValidationError as exc:
            field, code = problem_of(exc)
            errors.append(row_error(index, field, code))
            rows.append(None)
    return envelope, rows, errors + tokens_check(rows)


def tokens_check(rows: list[WatchIn | None]) -> list[dict[str, Any]]:
    """Rows whose tokens are not lowercase hex (lengths already checked) become None, with their error.

    The batches' check (``tokens_malformed``), once over every token of the request, then per row
    only when something is wrong.
    """
    if not tokens_malformed([identifier for row in rows if row is not None for identifier in row.identifiers]):
        return []
    errors = []
    for index, row in enumerate(rows):
        problems = tokens_malformed(row.identifiers) if row is not None else []
        if problems:
            field, code = problems[0]
            errors.append(row_error(index, field, code))
            rows[index] = None
    return errors


def _inline(schema: Any, definitions: dict[str, Any]) -> Any:
    if isinstance(schema, dict):
        if "$ref" in schema:
            return _inline(definitions[schema["$ref"].rsplit("/", 1)[1]], definitions)
        return {key: _inline(value, definitions) for key, value in schema.items() if key != "$defs"}
    if isinstance(schema, list):
        return [_inline(item, definitions) for item in schema]
    return schema


def openapi_schema(struct: type) -> dict[str, Any]:
    """The Struct's JSON Schema, references inlined, for ``extend_schema(request=…)``."""
    schema = msgspec.json.schema(struct)
    return _inline(schema, schema.get("$defs", {}))
