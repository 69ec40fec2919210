"""The contracts and the OpenAPI document agree: the examples pass, the schema names the validator's fields."""

from __future__ import annotations

import datetime as dt
from io import StringIO

import msgspec
import pytest
import yaml
from django.core.management import call_command

from sharing.alerts.contracts import ACKNOWLEDGE
from sharing.common.contracts import problems
from sharing.disputes.contracts import DISPUTE
from sharing.lookups.contracts import LOOKUP
from sharing.models import (
    CATEGORIES_BY_KIND,
    LoanProduct,
    LookupPurpose,
    MonitoringEvent,
    RecordCategory,
    RecordKind,
)
from sharing.monitoring.contracts import REPLAY, WATCHES, WEBHOOK_ENDPOINT, WatchItem, watches_parse
from sharing.records.contracts import BATCH, RECORD_VARIANTS, RESOLVE, RETRACT, batch_parse
from sharing.registers.contracts import (
    PARTNER,
    PARTNER_EXIT,
    PARTNER_FLAG,
    PARTNER_FLAG_ANSWER,
    PARTNER_UPDATE,
    POLICY_CARD,
)
from sharing.tokens.identifiers import ID_TYPES

CONTEXT = {"today": dt.date(2026, 12, 1), "current_versions": frozenset({1}), "retired_versions": frozenset()}

# Each operation's contract, and what its rules need.
OPERATIONS = {
    ("/api/v1/lookups", "post"): (LOOKUP, {}),
    ("/api/v1/disputes", "post"): (DISPUTE, {}),
    ("/api/v1/records/{reference}/resolve", "post"): (RESOLVE, {"today": CONTEXT["today"]}),
    ("/api/v1/records/{reference}/retract", "post"): (RETRACT, {}),
    ("/api/v1/alerts/{alert_id}/ack", "post"): (ACKNOWLEDGE, {}),
    ("/api/v1/partners", "post"): (PARTNER, {"today": CONTEXT["today"]}),
    ("/api/v1/partners/{uscc}", "put"): (PARTNER_UPDATE, {"today": CONTEXT["today"]}),
    ("/api/v1/partners/{uscc}/exit", "post"): (PARTNER_EXIT, {"today": CONTEXT["today"]}),
    ("/api/v1/partners/{uscc}/flags", "post"): (PARTNER_FLAG, {}),
    ("/api/v1/partner-flags/{flag_id}/answer", "post"): (PARTNER_FLAG_ANSWER, {}),
    ("/api/v1/policies", "post"): (POLICY_CARD, {"today": CONTEXT["today"]}),
    ("/api/v1/webhook-endpoints", "post"): (WEBHOOK_ENDPOINT, {}),
    ("/api/v1/webhook-endpoints/{endpoint_id}/replay", "post"): (REPLAY, {}),
}
# The bodies whose entries are checked one by one (their parse functions take the context).
PER_ENTRY = {("/api/v1/batches", "post"): (BATCH, batch_parse), ("/api/v1/watches", "post"): (WATCHES, watches_parse)}


@pytest.fixture(scope="module")
def schema(tmp_path_factory, django_db_blocker):
    out = tmp_path_factory.mktemp("schema") / "schema.yaml"
    with django_db_blocker.unblock():
        call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out), stdout=StringIO())
    return yaml.safe_load(out.read_text())


def _resolve(schema: dict, node: dict) -> dict:
    while "$ref" in node:
        node = schema["components"]["schemas"][node["$ref"].rsplit("/", 1)[1]]
    return node


def _request(schema: dict, path: str, method: str) -> dict:
    return schema["paths"][path][method]["requestBody"]


def test_every_documented_example_is_a_valid_request(schema):
    operations = {**{key: c for key, (c, _) in PER_ENTRY.items()}, **{key: c for key, (c, _) in OPERATIONS.items()}}
    for (path, method), contract in operations.items():
        examples = _request(schema, path, method)["content"]["application/json"]["examples"]
        assert examples, path
        for example in examples.values():
            if (path, method) in PER_ENTRY:
                check = PER_ENTRY[path, method][1](msgspec.json.encode(example["value"]), **CONTEXT)
                assert check.errors == [] and len(check.valid) == check.received, path
            else:
                contract.parse(msgspec.json.encode(example["value"]), **OPERATIONS[path, method][1])


def test_request_bodies_are_required_except_the_acknowledgement(schema):
    for path, method in [*OPERATIONS, *PER_ENTRY]:
        assert _request(schema, path, method)["required"] is (path != "/api/v1/alerts/{alert_id}/ack"), path


def _fields(schema: dict, node: dict) -> dict[str, dict]:
    node = _resolve(schema, node)
    assert node["additionalProperties"] is False
    return node["properties"]


def test_the_schema_names_exactly_the_fields_the_validator_takes(schema):
    record_schemas = _resolve(
        schema,
        _fields(schema, _request(schema, "/api/v1/batches", "post")["content"]["application/json"]["schema"])[
            "records"
        ]["items"],
    )
    variants = {
        _resolve(schema, ref)["properties"]["category"]["enum"][0]: _resolve(schema, ref)
        for ref in record_schemas["oneOf"]
    }
    assert record_schemas["discriminator"]["propertyName"] == "category"
    for variant in RECORD_VARIANTS:
        category = variant.__struct_config__.tag
        documented = variants[category]
        accepted = {field.encode_name for field in msgspec.inspect.type_info(variant).fields} | {"category"}
        assert set(documented["properties"]) == accepted
        # A field the schema names is one the validator does not refuse as unknown, and vice versa.
        assert not [p for p in problems({name: None for name in accepted}, variant) if p[1] == "unknown_field"]
        required = {f.encode_name for f in msgspec.inspect.type_info(variant).fields if f.required}
        assert set(documented["required"]) == required | {"category"}
    overdue = {"overdue_days", "overdue_amount", "currency", "product"}
    for category, documented in variants.items():
        assert (overdue <= set(documented["properties"])) is (category == RecordCategory.OVERDUE)
        assert (overdue <= set(documented.get("required", []))) is (category == RecordCategory.OVERDUE)
    for (path, method), (contract, _context) in [*OPERATIONS.items(), (("/api/v1/watches", "post"), (WATCHES, {}))]:
        documented = _fields(schema, _request(schema, path, method)["content"]["application/json"]["schema"])
        assert set(documented) == {f.encode_name for f in msgspec.inspect.type_info(contract.struct).fields}, path


def test_the_schema_enums_are_the_model_choices(schema):
    components = schema["components"]["schemas"]
    assert set(components["Identifier"]["properties"]["type"]["enum"]) == set(ID_TYPES)
    assert set(components["LookupRequest"]["properties"]["purpose"]["enum"]) == set(LookupPurpose.values)
    kinds, categories = set(), set()
    for variant in RECORD_VARIANTS:
        documented = components[variant.__name__]["properties"]
        (kind,), (category,) = documented["kind"]["enum"], documented["category"]["enum"]
        assert category in CATEGORIES_BY_KIND[kind]
        kinds.add(kind)
        categories.add(category)
    assert kinds == set(RecordKind.values) and categories == set(RecordCategory.values)
    assert set(components["OverdueRecord"]["properties"]["product"]["enum"]) == set(LoanProduct.values)
    event_types = components["WebhookEndpointRequest"]["properties"]["types"]["items"]["enum"]
    assert set(event_types) == set(MonitoringEvent.Type.values)
    watch_fields = _fields(schema, components["WatchesRequest"]["properties"]["watches"]["items"])
    assert set(watch_fields) == {f.encode_name for f in msgspec.inspect.type_info(WatchItem).fields}


@pytest.mark.parametrize(
    "value,valid",
    [("1.00", True), ("0", True), ("1.00\n", False), ("01", False), ("1.234", False), ("-1", False)],
)
def test_a_schema_pattern_means_the_same_as_the_validator(schema, value, valid):
    # OpenAPI patterns are ECMA regular expressions, where "$" is the end; Python's re (the validator,
    # and Hypothesis behind schemathesis) reads them the same way only thanks to the (?!\n) guard.
    import re

    pattern = schema["components"]["schemas"]["OverdueRecord"]["properties"]["overdue_amount"]["pattern"]
    assert (re.search(pattern, value) is not None) is valid
    record = {
        "reference": "R1",
        "kind": "delinquency",
        "category": "overdue",
        "identifiers": [{"type": "cn_mobile", "token": "a" * 64}],
        "key_version": 1,
        "event_date": "2026-01-01",
        "overdue_days": 3,
        "overdue_amount": value,
        "currency": "CNY",
        "product": "bnpl",
    }
    check = batch_parse(msgspec.json.encode({"records": [record]}), **CONTEXT)
    assert (check.errors == []) is valid
