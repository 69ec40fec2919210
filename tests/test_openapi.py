"""The OpenAPI contract: valid, complete, served."""

from __future__ import annotations

from io import StringIO

import yaml
from django.core.management import call_command


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
    assert "security" not in public_key and set(public_key["responses"]) == {"200"}


def test_schema_and_docs_are_served(client, db):
    assert client.get("/api/v1/schema/").status_code == 200
    docs = client.get("/api/v1/docs/")
    assert docs.status_code == 200 and b"swagger" in docs.content.lower()
