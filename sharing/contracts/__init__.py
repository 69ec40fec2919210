"""Request contracts: one definition per request body, from which validation, error codes and OpenAPI come.

Every body the API accepts follows the same pattern (``sharing/contracts/disputes.py`` is the
smallest complete example):

1. **A msgspec Struct** (``forbid_unknown_fields=True``) declares the fields, their JSON types and
   their per-field constraints (``msgspec.Meta``: lengths, bounds, ``pattern=whole(...)``, enums as
   ``Literal`` of the model's choices). A string field's own error code rides in
   ``Meta(extra={"code": ...})`` (``bad_format`` when none). Optional fields default to
   ``msgspec.UNSET``, so that ``null`` is refused like any other wrong type.
2. **Cross-field rules**: a function ``rules(body, **context) -> list[(pointer, code)]`` over the
   decoded Struct, for what one field alone cannot say (a type given twice, a date order, a
   purpose that needs consent). Context the rules need (today, key versions) is passed in.
3. **Error codes**: every code a contract can answer has its message in ``base.MESSAGES``; type,
   choice, bound, length and format failures get their codes from the Struct by ``base.problems``,
   the rules name theirs and the contract lists them (``Contract(..., rule_codes=...)``), so that
   ``Contract.codes()`` is every code a refusal of the body can carry: the OpenAPI document lists
   them under the operation's 400 (``core.openapi``). docs/api.md lists them too. A field's
   ``Meta(description=gettext_noop(...))`` is marked for translation; the schema shows it in the
   request's language.
4. **The OpenAPI schema and examples**: ``Contract(Struct, rules=..., examples=...)``; the view
   declares ``extend_schema(**sharing.apis.common.contract_schema(CONTRACT), ...)``, which takes
   the request schema (msgspec's JSON Schema in OpenAPI's dialect) and the examples from the
   contract; ``contract_components_hook`` adds the Structs' components and marks the body
   required. Every example must pass ``contract.parse`` (tests/sharing/test_contracts.py holds it,
   and that every schema field is one the validator takes). A field whose characters are checked
   outside msgspec for speed shows its pattern through ``Meta(extra_json_schema={"pattern": ...})``
   and the walk checks it too (``batches.Identifier.token``).

The API layer reads the raw body (``sharing.apis.common.json_body``: media type, size) and calls
``contract.parse(body, **context)``, which answers the typed Struct or raises
``core.errors.InvalidBody`` listing every problem (``MalformedBody`` for what is not JSON). Batches
are the one body whose records are validated one by one (``contracts.batches``): a record's
problems are listed in the 202 answer instead of refusing the batch.
"""
