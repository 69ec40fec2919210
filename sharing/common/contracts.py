"""What every contract shares: decoding, the walk that names every problem, the messages, the OpenAPI form.

Request contracts: one definition per request body, from which validation, error codes and OpenAPI come.

Every body the API accepts follows the same pattern (``sharing/disputes/contracts.py`` is the
smallest complete example):

1. **A msgspec Struct** (``forbid_unknown_fields=True``) declares the fields, their JSON types and
   their per-field constraints (``msgspec.Meta``: lengths, bounds, ``pattern=whole(...)``, enums as
   ``Literal`` of the model's choices). A string field's own error code rides in
   ``Meta(extra={"code": ...})`` (``bad_format`` when none). Optional fields default to
   ``msgspec.UNSET``, so that ``null`` is refused like any other wrong type.
2. **Cross-field rules**: a function ``rules(body, **context) -> list[(pointer, code)]`` over the
   decoded Struct, for what one field alone cannot say (a type given twice, a date order, a
   purpose that needs consent). Context the rules need (today, key versions) is passed in.
3. **Error codes**: every code a contract can answer has its message in ``MESSAGES`` (this module); type,
   choice, bound, length and format failures get their codes from the Struct by ``problems``,
   the rules name theirs and the contract lists them (``Contract(..., rule_codes=...)``), so that
   ``Contract.codes()`` is every code a refusal of the body can carry: the OpenAPI document lists
   them under the operation's 400 (``core.openapi``). docs/api.md lists them too. A field's
   ``Meta(description=gettext_noop(...))`` is marked for translation; the schema shows it in the
   request's language.
4. **The OpenAPI schema and examples**: ``Contract(Struct, rules=..., examples=...)``; the view
   declares ``extend_schema(**sharing.common.apis.contract_schema(CONTRACT), ...)``, which takes
   the request schema (msgspec's JSON Schema in OpenAPI's dialect) and the examples from the
   contract; ``contract_components_hook`` adds the Structs' components and marks the body
   required. Every example must pass ``contract.parse`` (tests/sharing/test_contracts.py holds it,
   and that every schema field is one the validator takes). A field whose characters are checked
   outside msgspec for speed shows its pattern through ``Meta(extra_json_schema={"pattern": ...})``
   and the walk checks it too (``sharing.tokens.contracts.Identifier.token``).

The API layer reads the raw body (``sharing.common.apis.json_body``: media type, size) and calls
``contract.parse(body, **context)``, which answers the typed Struct or raises
``core.errors.InvalidBody`` listing every problem (``MalformedBody`` for what is not JSON). Batches
and watches are the bodies whose entries are validated one by one (``sharing.records.contracts.batch_parse``,
``sharing.monitoring.contracts.watches_parse``): an entry's problems are listed in the answer instead of refusing the
request, and the service takes the checked result (``batch_submit``, ``watches_put``).
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Callable
from typing import Any

import msgspec
import msgspec.inspect as mi
import orjson
from django.conf import settings
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, gettext_noop

from core.errors import BodyTooLarge, InvalidBody, MalformedBody

# A problem: (JSON Pointer into the body, code).
Problem = tuple[str, str]

# The code of a list whose length limit is the request's size limit (``Meta(extra={"code": TOO_MANY})``):
# more entries than that is 413 for the whole request, not a field's problem.
TOO_MANY = "too_many"

MESSAGES = {
    "required": gettext_lazy("This field is required."),
    "unknown_field": gettext_lazy("This field is not part of the request."),
    "invalid_type": gettext_lazy("This field has the wrong JSON type."),
    "bad_format": gettext_lazy("This value does not have the required format."),
    "invalid_choice": gettext_lazy("This value is not one of the allowed choices."),
    "bad_token": gettext_lazy("A token is 64 lowercase hexadecimal characters."),
    "bad_element": gettext_lazy(
        "A blinded element is 32 bytes in standard base64 (44 characters): a canonical ristretto255 element "
        "other than the identity."
    ),
    "duplicate_type": gettext_lazy("Each identifier type may appear once."),
    "bad_count": gettext_lazy("This list has too few or too many entries."),
    "bad_date": gettext_lazy("A date is written YYYY-MM-DD, must exist and may not be before the platform's floor."),
    "future_date": gettext_lazy("This date is in the future."),
    "date_order": gettext_lazy("The resolved date is before the event date."),
    "min_value": gettext_lazy("This value is too small."),
    "max_value": gettext_lazy("This value is too large."),
    "bad_decimal": gettext_lazy("An amount is a decimal string ≥ 0 with at most 2 decimal places."),
    "not_allowed": gettext_lazy(
        "This field belongs to another kind of record (overdue records, open loans, or relief on loans and "
        "delinquencies)."
    ),
    "maturity_order": gettext_lazy("The maturity date is before the event date."),
    "relief_order": gettext_lazy(
        "Relief dates are out of order: relief_start not before event_date, relief_end not before relief_start, "
        "an extension's new maturity date after relief_start and after the loan's maturity date."
    ),
    "extension_only": gettext_lazy("Only an extension (展期) has a new maturity date."),
    "unknown_key_version": gettext_lazy("This key version is unknown to the platform."),
    "retired_key_version": gettext_lazy("This key version has been retired."),
    "duplicate_reference": gettext_lazy("This reference appears earlier in the same request."),
    "past_date": gettext_lazy("This date is in the past."),
    "too_far": gettext_lazy("A watch expires at most 10 years ahead."),
    "watch_limit": gettext_lazy("This member has reached its limit of watches."),
    "record_retracted": gettext_lazy("This record was retracted; report it under a new reference."),
    "bad_text": gettext_lazy(
        "Give a text that is not only white space, within the length limit and without control characters."
    ),
    "bad_uscc": gettext_lazy(
        "A USCC is 18 characters of 0-9 and A-Y (no I, O, S, V, Z) ending in its check character."
    ),
    "duplicate_value": gettext_lazy("This value appears earlier in the same list."),
    "bad_url": gettext_lazy("Give an https:// address of at most 500 characters."),
    "bad_rate": gettext_lazy('An annual rate is a decimal string from "0" to "1" with at most 4 places, e.g. "0.24".'),
    "unknown_partner": gettext_lazy(
        "Name a partner you registered with the role origination_platform (POST /api/v1/partners)."
    ),
    "too_far_ahead": gettext_lazy("This date is more than a year ahead."),
    "bad_digest": gettext_lazy("A SHA-256 digest is 64 lowercase hexadecimal characters."),
    "consent_required": gettext_lazy(
        "The subject's consent is needed: send consent_reference, at least 4 visible characters "
        "(at most 200, no control characters)."
    ),
}


def whole(body: str) -> str:
    """A pattern the whole value must match, alike in Python's re (msgspec, Hypothesis) and ECMA (OpenAPI).

    ``$`` alone lets Python accept a final newline ("1.00\\n"); ``(?!\\n)`` before it closes that
    gap and means nothing to an ECMA engine, where ``$`` is already the end.
    """
    return f"^(?:{body})(?!\\n)$"


# Free text may hold tabs and line breaks, never other control characters (PostgreSQL text cannot
# even store NUL). The newline is allowed anywhere, so ``$`` needs no guard here. A text that is
# required holds something besides white space (the lookahead scans once: no backtracking).
FREE_TEXT = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"
REQUIRED_TEXT = r"^(?=[\s\S]*\S)[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"


def safe_name(name: str) -> str:
    """A client-supplied field name as it may appear in an answer and in the database.

    Unknown names are echoed so the client sees which one; control characters (NUL
    cannot be stored in PostgreSQL text or JSON) become '?', and the length is capped.
    """
    cleaned = "".join(c if c.isprintable() else "?" for c in str(name)[:64])
    return cleaned.replace("~", "~0").replace("/", "~1")


def field_error(field: str, code: str) -> dict[str, str]:
    return {"field": field, "code": code, "message": str(MESSAGES[code])}


def date_problem(value: dt.date, *, today: dt.date, min_date: dt.date | None = None) -> str | None:
    """The code for a date no fact can have: in the future, or before ``min_date`` (``RISKSHARE_MIN_DATE``)."""
    if value > today:
        return "future_date"
    if value < (min_date or settings.RISKSHARE_MIN_DATE):
        return "bad_date"
    return None


def json_load(body: bytes) -> Any:
    """Any JSON document, for the walk; orjson refuses invalid UTF-8, lone surrogates and depth over 1,024."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        raise MalformedBody(_("The request body is not valid UTF-8 JSON.")) from None


# --- the walk: every problem of a value against a Struct's declared types --------------------


def problems(value: Any, of: Any, pointer: str = "") -> list[Problem]:
    """Every problem of a decoded JSON value against a contract type, in field order."""
    found: list[Problem] = []
    _walk(value, _type_info(of), pointer, found)
    return found


# What msgspec says of a type, read once per type: building it costs milliseconds.
_type_info = functools.cache(mi.type_info)


def _walk(value: Any, t: mi.Type, pointer: str, found: list[Problem], code: str = "bad_format") -> None:
    schema_pattern = None
    if isinstance(t, mi.Metadata):
        code = (t.extra or {}).get("code", code)
        # A pattern the schema shows and a rule checks outside msgspec (see sharing.tokens.contracts.Identifier).
        schema_pattern = (t.extra_json_schema or {}).get("pattern")
        t = t.type
    if isinstance(t, mi.UnionType):
        variants = [v for v in t.types if isinstance(v, mi.StructType)]
        if variants:
            _walk_tagged(value, variants, pointer, found)
            return
        (t,) = [v for v in t.types if not isinstance(v, mi.NoneType | mi.UnsetType)]
    if isinstance(t, mi.StructType):
        _walk_struct(value, t, pointer, found)
    elif isinstance(t, mi.LiteralType):
        if type(value) is not str or value not in t.values:
            found.append((pointer, "invalid_choice"))
    elif isinstance(t, mi.StrType):
        if type(value) is not str:
            found.append((pointer, "invalid_type"))
        elif not _str_fits(value, t) or (schema_pattern and re.search(schema_pattern, value) is None):
            found.append((pointer, code))
    elif isinstance(t, mi.IntType):
        if type(value) is float and abs(value) >= 2**64:  # an integer too long for 64 bits, as orjson reads it
            found.append((pointer, "max_value" if value > 0 else "min_value"))
        elif type(value) is not int:
            found.append((pointer, "invalid_type"))
        elif t.ge is not None and value < t.ge:
            found.append((pointer, "min_value"))
        elif t.le is not None and value > t.le:
            found.append((pointer, "max_value"))
    elif isinstance(t, mi.BoolType):
        if type(value) is not bool:
            found.append((pointer, "invalid_type"))
    elif isinstance(t, mi.DateType):
        if type(value) is not str:
            found.append((pointer, "invalid_type"))
        else:
            try:
                msgspec.convert(value, dt.date)
            except msgspec.ValidationError:
                found.append((pointer, "bad_date"))
    elif isinstance(t, mi.ListType):
        if type(value) is not list:
            found.append((pointer, "invalid_type"))
        elif t.max_length is not None and len(value) > t.max_length and code == TOO_MANY:
            found.append((pointer, TOO_MANY))
        elif not (t.min_length or 0) <= len(value) <= (t.max_length or len(value)):
            found.append((pointer, "bad_count"))
        else:
            for index, item in enumerate(value):
                _walk(item, t.item_type, f"{pointer}/{index}", found)
    else:  # pragma: no cover - a contract uses only the types above
        raise TypeError(f"no walk for {t!r}")


def _str_fits(value: str, t: mi.StrType) -> bool:
    if t.min_length is not None and len(value) < t.min_length:
        return False
    if t.max_length is not None and len(value) > t.max_length:
        return False
    # msgspec searches for the pattern as re.search does; so does this.
    return t.pattern is None or re.search(t.pattern, value) is not None


def _walk_struct(
    value: Any, t: mi.StructType, pointer: str, found: list[Problem], elsewhere: frozenset[str] = frozenset()
) -> None:
    """A JSON object against a Struct: unknown fields (``not_allowed`` if another variant has them), then each field."""
    if type(value) is not dict:
        found.append((pointer, "invalid_type"))
        return
    names = {field.encode_name for field in t.fields}
    for name in sorted(value.keys() - names - {t.tag_field}, key=str):
        found.append((f"{pointer}/{safe_name(name)}", "not_allowed" if name in elsewhere else "unknown_field"))
    for field in t.fields:
        if field.encode_name in value:
            _walk(value[field.encode_name], field.type, f"{pointer}/{field.encode_name}", found)
        elif field.required:
            found.append((f"{pointer}/{field.encode_name}", "required"))


def _walk_tagged(value: Any, variants: list[mi.StructType], pointer: str, found: list[Problem]) -> None:
    """A JSON object against a union tagged by one field: the tag picks the variant.

    A field that the variant fixes to one value (``kind`` for a ``category``) and that holds another
    variant's value is reported as the tag not fitting it.
    """
    if type(value) is not dict:
        found.append((pointer, "invalid_type"))
        return
    tag_field = variants[0].tag_field
    by_tag = {variant.tag: variant for variant in variants}
    tag = value.get(tag_field)
    tag_pointer = f"{pointer}/{tag_field}"
    if tag_field not in value or type(tag) is not str or tag not in by_tag:
        found.append((tag_pointer, "required" if tag_field not in value else "invalid_choice"))
        # Without a variant, what every variant has in common: the same fields, the same types.
        first, *others = variants
        common = tuple(f for f in first.fields if all(f in other.fields for other in others))
        elsewhere = {f.encode_name for variant in variants for f in variant.fields} - {f.encode_name for f in common}
        rest = {name: item for name, item in value.items() if name not in elsewhere}
        _walk_struct(rest, mi.StructType(first.cls, common, tag_field, None, False, True), pointer, found)
        return
    variant = by_tag[tag]
    elsewhere = frozenset(field.encode_name for other in variants for field in other.fields)
    own: list[Problem] = []
    _walk_struct(value, variant, pointer, own, elsewhere)
    for field_pointer, code in own:
        name = field_pointer[len(pointer) + 1 :]
        if code == "invalid_choice" and any(
            isinstance(_bare(f.type), mi.LiteralType) and value.get(name) in _bare(f.type).values
            for other in variants
            for f in other.fields
            if f.encode_name == name
        ):
            found.append((tag_pointer, "invalid_choice"))
        else:
            found.append((field_pointer, code))


def _bare(t: mi.Type) -> mi.Type:
    """The type without its ``Meta`` (a description, a code)."""
    return t.type if isinstance(t, mi.Metadata) else t


# --- one contract ----------------------------------------------------------------------------


class Contract:
    """One request body: its Struct, its cross-field rules and its documented examples."""

    def __init__(
        self,
        struct: Any,
        *,
        rules: Callable[..., list[Problem]] | None = None,
        rule_codes: tuple[str, ...] = (),
        examples: dict,
        optional: bool = False,
        items_answered: bool = False,
    ) -> None:
        self.struct = struct
        self.optional = optional  # no body at all stands for {}
        self.rules = rules
        self.rule_codes = rule_codes  # the codes ``rules`` can name
        # The items of its lists are checked one by one and their problems answered, not refused (batches).
        self.items_answered = items_answered
        self.examples = examples
        self.decoder = msgspec.json.Decoder(struct)

    def parse(self, body: bytes, **context: Any) -> Any:
        """The typed body, or ``InvalidBody`` naming every problem (``MalformedBody`` if it is not JSON)."""
        try:
            value = self.decoder.decode(body)
        except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
            # Not the contract's shape (or not JSON): load it as plain JSON and name every problem.
            document = json_load(body)
            found = problems(document, self.struct)
            too_large(found)
            if found:
                raise invalid_body(found) from None
            value = msgspec.convert(document, self.struct)
        found = self.rules(value, **context) if self.rules else []
        if found:
            raise invalid_body(found)
        return value

    def codes(self) -> list[str]:
        """Every code a refusal of this body can carry: the walk's, from the declared types, and the rules'."""
        return sorted({*struct_codes(self.struct, descend=not self.items_answered), *self.rule_codes})

    def openapi_request(self) -> dict[str, Any]:
        """``extend_schema(request=...)``: the body's schema, a reference into the components."""
        (schema,), _components = openapi_schemas([self.struct])
        return {"application/json": schema}


def struct_codes(struct: Any, *, descend: bool = True) -> list[str]:
    """The codes the walk can find in a body of this Struct (``descend=False``: not inside its lists' items)."""
    found = {"required", "unknown_field", "invalid_type"}
    _type_codes(_type_info(struct), found, descend=descend)
    found.discard(TOO_MANY)  # the whole request is then too large: payload_too_large
    return sorted(found)


def _type_codes(t: mi.Type, found: set[str], *, descend: bool = True, code: str = "bad_format") -> None:
    """The codes ``_walk`` can find in a value of this type (the same cases, in the same order)."""
    if isinstance(t, mi.Metadata):
        code = (t.extra or {}).get("code", code)
        if (t.extra_json_schema or {}).get("pattern"):
            found.add(code)
        t = t.type
    if isinstance(t, mi.UnionType):
        for variant in t.types:
            if isinstance(variant, mi.StructType):
                found.update({"invalid_choice", "not_allowed"})
            _type_codes(variant, found, descend=descend, code=code)
    elif isinstance(t, mi.StructType):
        for field in t.fields:
            _type_codes(field.type, found, descend=descend)
    elif isinstance(t, mi.LiteralType):
        found.add("invalid_choice")
    elif isinstance(t, mi.StrType):
        if t.min_length is not None or t.max_length is not None or t.pattern is not None:
            found.add(code)
    elif isinstance(t, mi.IntType):
        found.update({"min_value", "max_value"})  # bounds, or beyond 64 bits either way
    elif isinstance(t, mi.DateType):
        found.add("bad_date")
    elif isinstance(t, mi.ListType):
        if t.min_length is not None or t.max_length is not None:
            found.add("bad_count")
        if descend:
            _type_codes(t.item_type, found)


def too_large(found: list[Problem]) -> None:
    for field, code in found:
        if code == TOO_MANY:
            raise BodyTooLarge(_("Too many entries in %(field)s for one request.") % {"field": field})


def invalid_body(found: list[Problem]) -> InvalidBody:
    errors = [field_error(field, code) for field, code in found]
    if len(errors) == 1:
        error = InvalidBody(errors[0]["message"], errors=errors)
        error.code = errors[0]["code"]
        return error
    return InvalidBody(_("The request has %(count)d invalid field(s).") % {"count": len(errors)}, errors=errors)


# --- OpenAPI ---------------------------------------------------------------------------------

REF_TEMPLATE = "#/components/schemas/{name}"

# Tokens for the documented examples (SHA-256 of "test", "foo", "bar": any 64 lowercase hex will do).
EXAMPLE_TOKENS = (
    "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae",
    "fcde2b2edba56bf408601fb721fe9b5c338d10ee429ea04fae5511b68fbf8fb9",
)


def openapi_schemas(structs: list[Any]) -> tuple[tuple[dict, ...], dict[str, dict]]:
    """msgspec's JSON Schema of these types, in the OpenAPI 3.0 dialect drf-spectacular writes."""
    schemas, components = msgspec.json.schema_components(structs, ref_template=REF_TEMPLATE)
    components = {name: without_docstrings(_openapi_dialect(s)) for name, s in components.items()}
    _tags_described(components, components)
    return tuple(_openapi_dialect(s) for s in schemas), components


def without_docstrings(schema: Any) -> Any:
    """The schema without the Structs' docstrings, which msgspec makes their descriptions.

    A docstring is written for the code's readers (how a check is made, what it costs); what a client
    reads is the operation's description and each field's ``Meta(description=...)``, in its language.
    """
    if isinstance(schema, list):
        return [without_docstrings(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    is_struct = "title" in schema and "properties" in schema
    return {key: without_docstrings(value) for key, value in schema.items() if not (is_struct and key == "description")}


TAG_DESCRIPTION = gettext_noop("Which variant of the object this is; it decides which other fields apply.")


def _tags_described(node: Any, components: dict[str, dict]) -> None:
    """The tag field of each tagged union's variants says what it is (msgspec gives it no description)."""
    if isinstance(node, list):
        for item in node:
            _tags_described(item, components)
    elif isinstance(node, dict):
        discriminator = node.get("discriminator")
        if discriminator:
            for ref in discriminator.get("mapping", {}).values():
                tag = components[ref.rsplit("/", 1)[1]]["properties"][discriminator["propertyName"]]
                tag.setdefault("description", TAG_DESCRIPTION)
        for value in node.values():
            _tags_described(value, components)


def _openapi_dialect(schema: Any) -> Any:
    if isinstance(schema, list):
        return [_openapi_dialect(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    converted = {key: _openapi_dialect(value) for key, value in schema.items()}
    if "enum" in converted and "type" not in converted:
        converted["type"] = "string"
    if converted.get("required") == []:  # OpenAPI 3.0 wants at least one name, or none at all
        del converted["required"]
    if "anyOf" in converted and "discriminator" in converted:  # the variants of a tagged union exclude each other
        converted["oneOf"] = converted.pop("anyOf")
    return converted


REFERENCE = re.compile("[A-Za-z0-9._:-]{1,64}")


AMOUNT = re.compile(r"(0|[1-9][0-9]{0,11})(\.[0-9]{1,2})?")


def record_error(index: int, field: str, code: str) -> dict[str, Any]:
    return {"index": index, "field": field, "code": code, "message": str(MESSAGES[code])}
