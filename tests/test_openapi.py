"""The OpenAPI contract: valid, complete, served, in English and Chinese."""

from __future__ import annotations

import json
import re
from io import StringIO

import pytest
import yaml
from django.core.management import call_command
from django.utils.html import escapejs
from openapi_schema_validator import OAS30Validator, oas30_format_checker
from openapi_spec_validator import validate

from tests.openapi import documented_codes, documented_schema, operations, resolved

CJK = re.compile("[\u4e00-\u9fff]")


def test_schema_validates_without_warnings(tmp_path):
    out = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out), stdout=StringIO())
    schema = yaml.safe_load(out.read_text())
    paths = schema["paths"]
    for path in [
        "/api/v1/me",
        "/api/v1/batches",
        "/api/v1/batches/{batch_id}",
        "/api/v1/records",
        "/api/v1/records/{reference}",
        "/api/v1/records/{reference}/resolve",
        "/api/v1/records/{reference}/retract",
        "/api/v1/lookups",
        "/api/v1/lookups/{lookup_id}",
        "/api/v1/disputes",
        "/api/v1/disputes/{dispute_id}",
        "/api/v1/alerts",
        "/api/v1/alerts/{alert_id}/ack",
        "/api/v1/reports",
        "/api/v1/reports/public-key",
        "/api/v1/reports/{report_id}/download",
    ]:
        assert path in paths, path
    submit = paths["/api/v1/batches"]["post"]
    assert {"202", "400", "401", "403", "409", "413", "415", "422"} <= set(submit["responses"])
    assert schema["components"]["securitySchemes"]["memberApiKey"]["scheme"] == "bearer"
    assert "429" in paths["/api/v1/lookups"]["post"]["responses"]
    assert {"201", "400", "401", "403", "404"} <= set(paths["/api/v1/disputes"]["post"]["responses"])
    # /me documents the sections other apps add (settings.RISKSHARE_ME_SECTIONS).
    assert "lookup_quota" in schema["components"]["schemas"]["MeAnswer"]["properties"]
    result = schema["components"]["schemas"]["LookupResult"]["properties"]
    assert {"disputed", "statement", "exposure"} <= set(result)
    # The loan variant of a record, from the batch contract: its fields, required as the contract says.
    loan = schema["components"]["schemas"]["OpenRecord"]
    assert {"credit_limit", "outstanding_balance", "currency", "product"} <= set(loan["required"])
    assert "maturity_date" in loan["properties"] and "overdue_days" not in loan["properties"]
    download = paths["/api/v1/reports/{report_id}/download"]["get"]["responses"]
    assert download["200"]["content"]["application/zip"]["schema"] == {"type": "string", "format": "binary"}
    assert {"401", "403", "404"} <= set(download)
    public_key = paths["/api/v1/reports/public-key"]["get"]
    assert "security" not in public_key and set(public_key["responses"]) == {"200", "500"}


def test_schema_and_docs_are_served(client, db):
    assert client.get("/api/v1/schema/").status_code == 200
    docs = client.get("/api/v1/docs/")
    assert docs.status_code == 200 and b"swagger" in docs.content.lower()


def _served(client, language: str) -> dict:
    answer = client.get("/api/v1/schema/?format=json", HTTP_ACCEPT_LANGUAGE=language)
    assert answer.status_code == 200
    return json.loads(answer.content)


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_the_served_document_passes_the_openapi_validator(client, db, language):
    schema = _served(client, language)
    validate(schema)
    assert schema["servers"] and schema["servers"][0]["url"] == "/"
    used = {tag for _path, _method, operation in operations(schema) for tag in operation["tags"]}
    described = {tag["name"]: tag["description"] for tag in schema["tags"]}
    assert used <= set(described) and all(described.values())


def test_every_operation_has_a_summary_a_description_and_examples_that_fit_their_schemas():
    schema = documented_schema()
    for path, method, operation in operations(schema):
        where = f"{method.upper()} {path}"
        assert operation.get("summary") and operation.get("description"), where
        body = operation.get("requestBody", {}).get("content", {}).get("application/json")
        if body:
            assert body.get("examples"), f"{where}: no request example"
            for name, example in body["examples"].items():
                _holds(schema, body["schema"], example["value"], f"{where} request {name}")
        for status, response in operation["responses"].items():
            assert response.get("description"), f"{where} {status}"
            for media, content in response.get("content", {}).items():
                if media == "application/zip":
                    continue
                assert content.get("examples"), f"{where} {status}: no example"
                for name, example in content["examples"].items():
                    _holds(schema, content["schema"], example["value"], f"{where} {status} {name}")


def _holds(schema: dict, part: dict, value, where: str) -> None:
    errors = list(OAS30Validator(resolved(schema, part), format_checker=oas30_format_checker).iter_errors(value))
    assert not errors, f"{where}: {errors[0].message} at {list(errors[0].absolute_path)}"


def test_an_example_that_breaks_its_schema_is_caught():
    schema = documented_schema()
    with pytest.raises(AssertionError, match="is not of type"):
        _holds(schema, {"$ref": "#/components/schemas/RecordOutput"}, {"overdue_days": "many"}, "broken")


def test_every_error_answer_lists_its_codes_and_the_limits_say_when_to_retry():
    schema = documented_schema()
    for path, method, operation in operations(schema):
        for status, response in operation["responses"].items():
            if int(status) < 400 or "application/problem+json" not in response.get("content", {}):
                continue
            examples = response["content"]["application/problem+json"]["examples"]
            assert examples and all(f"`{code}`" in response["description"] for code in examples), (path, status)
            assert all(example["value"]["status"] == int(status) for example in examples.values())
            if status in ("429", "503"):
                assert "Retry-After" in response["headers"], (path, method, status)
        assert "503" in operation["responses"] or "security" not in operation, path
    lookup = schema["paths"]["/api/v1/lookups"]["post"]["responses"]
    for status in ("200", "429"):
        assert {"RateLimit-Policy", "RateLimit", "X-Request-ID"} <= set(lookup[status]["headers"])
    assert "throttled" in lookup["429"]["content"]["application/problem+json"]["examples"]
    records = schema["paths"]["/api/v1/records"]["get"]
    assert "Rate limit: 600 requests a minute" in records["description"]
    assert {"invalid_cursor", "bad_page_size", "validation_error"} <= set(
        records["responses"]["400"]["content"]["application/problem+json"]["examples"]
    )
    resolve = schema["paths"]["/api/v1/records/{reference}/resolve"]["post"]["responses"]
    assert {"future_date", "date_order", "required"} <= set(
        resolve["400"]["content"]["application/problem+json"]["examples"]
    )
    assert set(resolve["409"]["content"]["application/problem+json"]["examples"]) == {"record_not_active"}
    assert "missing_scope" in resolve["403"]["content"]["application/problem+json"]["examples"]
    me = schema["paths"]["/api/v1/me"]["get"]["responses"]
    assert "missing_scope" not in me["403"]["content"]["application/problem+json"]["examples"]


def _undescribed(schema: dict, node, where: str):
    if isinstance(node, dict):
        for name, prop in (node.get("properties") or {}).items():
            target = prop
            refs = [prop, *prop.get("allOf", [])] if isinstance(prop, dict) else []
            ref = next((item["$ref"] for item in refs if "$ref" in item), None)
            if ref and not prop.get("description"):
                target = schema["components"]["schemas"][ref.rsplit("/", 1)[1]]
            if not (isinstance(target, dict) and target.get("description")):
                yield f"{where}.{name}"
            yield from _undescribed(schema, prop, f"{where}.{name}")
        for key in ("items", "additionalProperties"):
            if isinstance(node.get(key), dict):
                yield from _undescribed(schema, node[key], f"{where}[]")
        for key in ("oneOf", "anyOf", "allOf"):
            for item in node.get(key, []):
                yield from _undescribed(schema, item, where)


def test_every_field_of_every_schema_is_described():
    schema = documented_schema()
    missing = [
        field
        for name, component in schema["components"]["schemas"].items()
        for field in _undescribed(schema, component, name)
    ]
    for path, method, operation in operations(schema):
        body = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema", {})
        missing += list(_undescribed(schema, body, f"{method.upper()} {path}"))
        missing += [
            f"{method.upper()} {path} ?{p['name']}"
            for p in operation.get("parameters", [])
            if not p.get("description") and p["in"] != "path"
        ]
    assert not missing, missing


def test_a_field_without_a_description_is_caught():
    schema = {"components": {"schemas": {"A": {"properties": {"b": {"type": "string"}}}}}}
    assert list(_undescribed(schema, schema["components"]["schemas"]["A"], "A")) == ["A.b"]


def test_the_chinese_document_is_in_chinese(client, db):
    english, chinese = _served(client, "en"), _served(client, "zh-hans")
    assert not CJK.search(english["paths"]["/api/v1/lookups"]["post"]["summary"])
    untranslated = []
    for path, method, operation in operations(chinese):
        for key in ("summary", "description"):
            if not CJK.search(operation[key]):
                untranslated.append(f"{method.upper()} {path} {key}")
        for status, response in operation["responses"].items():
            if not CJK.search(response["description"]):
                untranslated.append(f"{method.upper()} {path} {status}")
    for name, component in chinese["components"]["schemas"].items():
        for field, prop in component.get("properties", {}).items():
            text = prop.get("description", "")
            if text and not CJK.search(text):
                untranslated.append(f"{name}.{field}")
    untranslated += [tag["name"] for tag in chinese["tags"] if not CJK.search(tag["description"])]
    assert not untranslated, untranslated
    assert CJK.search(chinese["info"]["description"]) and CJK.search(chinese["servers"][0]["description"])


def test_the_docs_page_asks_for_the_schema_in_its_language(client, db):
    page = client.get("/api/v1/docs/?lang=zh-hans")
    assert page.status_code == 200 and escapejs("/api/v1/schema/?lang=zh-hans").encode() in page.content
    schema = json.loads(client.get("/api/v1/schema/?format=json&lang=zh-hans", HTTP_ACCEPT_LANGUAGE="en").content)
    assert CJK.search(schema["paths"]["/api/v1/lookups"]["post"]["summary"])


def test_the_suite_checks_answered_codes_against_the_document():
    """What tests/conftest.py's check reads: the codes documented for a route, method and status."""
    resolve = "api/v1/records/<str:reference>/resolve"
    assert documented_codes(resolve, "POST", 409) == {"record_not_active"}
    assert "already_retracted" not in documented_codes(resolve, "POST", 409)
    assert documented_codes(resolve, "POST", 418) == set()
    assert documented_codes("admin/", "GET", 404) is None


def test_a_problem_code_has_one_status():
    from core.errors import ConflictError
    from core.openapi import problem_code, register_problems

    with pytest.raises(ValueError, match="statuses 400 and 409"):
        register_problems(problem_code("invalid_cursor", ConflictError, "clash"))


def test_the_watches_example_is_a_request_the_api_accepts(member_a):
    from sharing.models import ConsortiumKey

    ConsortiumKey.objects.create(version=1, check_value="0" * 16, created_by="tests")
    operation = documented_schema()["paths"]["/api/v1/watches"]["post"]
    examples = operation["requestBody"]["content"]["application/json"]["examples"].values()
    for number, example in enumerate(examples):
        answer = member_a.client().post(
            "/api/v1/watches", example["value"], format="json", HTTP_IDEMPOTENCY_KEY=f"docs-example-{number}"
        )
        accepted = len(example["value"]["watches"])
        assert answer.status_code == 200 and answer.json() == {"accepted": accepted, "rejected": 0, "errors": []}


def test_docstrings_written_for_the_code_stay_out_of_the_document():
    from sharing.monitoring.contracts import WatchItem

    document = json.dumps(documented_schema())
    # MeLookupQuotaSerializer's docstring names the code; a contract Struct's (msgspec would make it the
    # component's description) says how the checks are made.
    assert "sharing.lookups.ratelimit" not in document and "tokens_check" not in document
    assert json.dumps(WatchItem.__doc__)[1:-1] not in document
