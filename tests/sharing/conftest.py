from __future__ import annotations

import datetime as dt
import itertools
import secrets
import uuid
from typing import Any

import orjson
import pytest

from sharing.models import ConsortiumKey
from sharing.records.services import batch_process
from tests.sharing.monitoring.receiver import receiver  # noqa: F401 - a local webhook receiver, as a fixture

_references = itertools.count(1)


def new_token() -> str:
    return secrets.token_hex(32)


def blacklist(tokens: list[str] | None = None, **overrides: Any) -> dict[str, Any]:
    record = {
        "reference": f"R-{next(_references)}",
        "kind": "blacklist",
        "category": "identity_fraud",
        "identifiers": [{"type": "cn_resident_id", "token": token} for token in (tokens or [new_token()])[:1]]
        + [{"type": "cn_mobile", "token": token} for token in (tokens or [])[1:2]],
        "key_version": 1,
        "event_date": "2025-03-01",
    }
    record.update(overrides)
    return record


def overdue(tokens: list[str] | None = None, **overrides: Any) -> dict[str, Any]:
    record = blacklist(tokens)
    record.update(
        {
            "kind": "delinquency",
            "category": "overdue",
            "event_date": "2025-06-10",
            "overdue_days": 45,
            "overdue_amount": "1200.50",
            "currency": "CNY",
            "product": "consumer_loan",
        }
    )
    record.update(overrides)
    return record


@pytest.fixture
def key_v1(db) -> ConsortiumKey:
    return ConsortiumKey.objects.create(version=1, check_value="0" * 16, created_by="tests")


def loan(tokens: list[str] | None = None, **overrides: Any) -> dict[str, Any]:
    """An open credit facility (kind loan), opened 2025-06-10."""
    record = blacklist(tokens)
    record.update(
        {
            "kind": "loan",
            "category": "open",
            "event_date": "2025-06-10",
            "credit_limit": "50000.00",
            "outstanding_balance": "20000.00",
            "currency": "CNY",
            "product": "credit_line",
        }
    )
    record.update(overrides)
    return record


def submit(member, records: list[dict[str, Any]], key: str | None = None, **extra):
    body = orjson.dumps({"records": records})
    return member.client().generic(
        "POST",
        "/api/v1/batches",
        body,
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY=key or str(uuid.uuid4()),
        **extra,
    )


def days_ago(n: int) -> str:
    return (dt.date.today() - dt.timedelta(days=n)).isoformat()


def lookup(member, tokens, purpose="credit_application", consent="consent-1", id_type="cn_resident_id", **extra):
    body = {"purpose": purpose, "key_version": 1, "identifiers": [{"type": id_type, "token": t} for t in tokens]}
    if consent is not None:
        body["consent_reference"] = consent
    body.update(extra)
    return member.client().generic("POST", "/api/v1/lookups", orjson.dumps(body), content_type="application/json")


def reported(member, records):
    batch_id = submit(member, records).json()["id"]
    batch_process(batch_id=batch_id)
