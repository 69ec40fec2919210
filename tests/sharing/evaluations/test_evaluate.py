"""POST /api/v1/tokens/evaluate and GET /api/v1/tokens/keys, against a real evaluator process."""

from __future__ import annotations

import base64
import json

import pytest
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from django.conf import settings
from django.db import connection

from members.audit import Actor
from members.models import AuditEvent
from sharing.evaluations.models import TokenEvaluationCount, TokenEvaluationLimit
from sharing.evaluations.services import token_evaluate_full
from sharing.lookups.models import MemberFlag
from sharing.tokens import oprf
from sharing.tokens.directory import directory_document
from sharing.tokens.services import consortium_key_retire
from tests.conftest import issue

URL = "/api/v1/tokens/evaluate"
MOBILES = ["13800138000", "13900139000", "15012345678"]


def _blind(values, id_type="cn_mobile"):
    return oprf.Blinded([oprf.token_input(id_type, value) for value in values])


def _body(blinded, version=2, id_type="cn_mobile"):
    return {
        "key_version": version,
        "type": id_type,
        "blinded": [base64.b64encode(e).decode() for e in blinded.elements],
    }


def _evaluate(member, body):
    return member.client().post(URL, json.dumps(body), content_type="application/json")


def test_a_member_gets_v2_tokens_that_only_the_evaluators_key_gives(key_v2, member_a, token_evaluator):
    blinded = _blind(MOBILES)
    answer = _evaluate(member_a, _body(blinded))
    assert answer.status_code == 200, answer.json()
    document = answer.json()
    tokens = blinded.finalize(
        [base64.b64decode(e) for e in document["evaluated"]],
        base64.b64decode(document["proof"]),
        bytes.fromhex(key_v2.public_keys["cn_mobile"]),
    )
    evaluator = oprf.evaluator_for(token_evaluator.seed(2), "cn_mobile")
    assert tokens == [oprf.evaluate(evaluator, "cn_mobile", mobile) for mobile in MOBILES]
    # The desk's full evaluation (issue 34) gives the same tokens from raw values.
    desk = token_evaluate_full(
        actor=Actor.system("tests"), key_version=2, id_type="cn_mobile", raw_values=["+86 138 0013 8000"], purpose="t"
    )
    assert desk == tokens[:1]
    event = AuditEvent.objects.get(action="tokens.evaluated_for_subject")
    assert event.payload == {"key_version": 2, "type": "cn_mobile", "count": 1, "purpose": "t"}
    assert answer.headers["Cache-Control"] == "no-store"


def test_every_evaluation_is_counted_and_audited_without_its_elements(key_v2, member_a):
    body = _body(_blind(MOBILES))
    assert _evaluate(member_a, body).status_code == 200
    [count] = TokenEvaluationCount.objects.filter(member_id=member_a.institution.pk)
    assert (count.id_type, count.evaluated) == ("cn_mobile", 3)
    event = AuditEvent.objects.filter(action="tokens.evaluated").get()
    assert event.institution_id == member_a.institution.pk
    assert event.actor_id == str(member_a.credential.pk)
    assert set(event.payload) == {"key_version", "type", "count", "body_sha256"}
    assert event.payload["count"] == 3 and len(event.payload["body_sha256"]) == 64
    assert not any(element in json.dumps(event.payload) for element in body["blinded"])


def test_a_bad_element_is_named_and_nothing_is_evaluated_or_counted(key_v2, member_a):
    body = _body(_blind(MOBILES))
    body["blinded"][1] = base64.b64encode(bytes(32)).decode()  # the identity
    answer = _evaluate(member_a, body)
    assert answer.status_code == 400
    assert answer.json()["code"] == "bad_element"
    assert answer.json()["errors"][0]["field"] == "/blinded/1"
    body["blinded"][1] = "not base64"
    answer = _evaluate(member_a, body)
    assert answer.status_code == 400 and answer.json()["errors"][0]["field"] == "/blinded/1"
    assert not TokenEvaluationCount.objects.exists()
    assert not AuditEvent.objects.filter(action="tokens.evaluated").exists()


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"key_version": 1}, "not_a_v2_key_version"),
        ({"key_version": 9}, "unknown_key_version"),
        ({"type": "passport"}, "invalid_choice"),
        ({"blinded": []}, "bad_count"),
    ],
)
def test_requests_the_evaluator_cannot_serve_are_refused_with_a_problem(key_v2, member_a, change, code):
    answer = _evaluate(member_a, {**_body(_blind(MOBILES[:1])), **change})
    assert answer.status_code == 400
    assert answer["Content-Type"] == "application/problem+json"
    assert code in {answer.json()["code"], *(e["code"] for e in answer.json().get("errors", []))}


def test_more_than_ten_thousand_elements_is_too_large(key_v2, member_a):
    body = _body(_blind(MOBILES[:1]))
    body["blinded"] = body["blinded"] * 10_001
    assert _evaluate(member_a, body).status_code == 413


def test_a_retired_v2_version_evaluates_nothing(key_v2, member_a):
    consortium_key_retire(actor=Actor.system("tests"), version=2, reason="moved on")
    answer = _evaluate(member_a, _body(_blind(MOBILES[:1])))
    assert answer.status_code == 400 and answer.json()["code"] == "retired_key_version"


def test_beyond_the_daily_limit_the_member_gets_429_and_the_operators_a_flag(key_v2, member_a):
    TokenEvaluationLimit.objects.create(member=member_a.institution, evaluations_per_day=4, updated_by="tests")
    assert _evaluate(member_a, _body(_blind(MOBILES))).status_code == 200
    answer = _evaluate(member_a, _body(_blind(MOBILES)))
    assert answer.status_code == 429
    assert answer.json()["code"] == "evaluations_per_day"
    assert int(answer["Retry-After"]) > 0
    flag = MemberFlag.objects.get(member=member_a.institution)
    assert flag.kind == MemberFlag.Kind.TOKEN_ENUMERATION and flag.detail["limit"] == "evaluations_per_day"
    assert AuditEvent.objects.filter(action="tokens.evaluation_refused").count() == 1
    # Another type has its own day.
    assert _evaluate(member_a, _body(_blind(["a@example.com"], "email"), id_type="email")).status_code == 200
    count = TokenEvaluationCount.objects.get(member_id=member_a.institution.pk, id_type="cn_mobile")
    assert (count.evaluated, count.refused) == (3, 3)


def test_evaluations_far_beyond_the_tokens_used_are_refused_over_the_window(key_v2, member_a, settings):
    settings.RISKSHARE_EVALUATIONS_SLACK = 5
    assert _evaluate(member_a, _body(_blind(MOBILES))).status_code == 200
    answer = _evaluate(
        member_a, _body(_blind(["a@example.com", "b@example.com", "c@example.com"], "email"), id_type="email")
    )
    assert answer.status_code == 429 and answer.json()["code"] == "evaluations_ratio"
    assert MemberFlag.objects.filter(member=member_a.institution, kind="token_enumeration").exists()


def test_a_migration_allowance_follows_the_members_own_records_under_v1(key_v2, member_a, member_b, settings):
    from tests.sharing.conftest import overdue, submit

    settings.RISKSHARE_EVALUATIONS_SLACK = 0
    settings.RISKSHARE_EVALUATIONS_PER_DAY_FLOOR = 0
    TokenEvaluationLimit.objects.create(member=member_a.institution, evaluations_per_day=0, updated_by="tests")
    TokenEvaluationLimit.objects.create(member=member_b.institution, evaluations_per_day=0, updated_by="tests")
    records = [overdue(reference=f"L-{n}") for n in range(3)]
    assert submit(member_a, records).status_code == 202
    # Member A's 3 records under v1 (resident ID each) allow 3 evaluations of that type, not of another.
    blinded = _blind(["11010519491231002X"] * 3, "cn_resident_id")
    assert _evaluate(member_a, _body(blinded, id_type="cn_resident_id")).status_code == 200
    assert _evaluate(member_a, _body(_blind(MOBILES[:1]))).status_code == 429
    assert _evaluate(member_b, _body(blinded, id_type="cn_resident_id")).status_code == 429


def test_a_credential_that_uses_no_tokens_may_not_evaluate(key_v2, member_a):
    reader = issue(member_a.institution, scopes=["reports:read"])
    answer = _evaluate(reader, _body(_blind(MOBILES[:1])))
    assert answer.status_code == 403 and answer.json()["code"] == "missing_scope"


def test_an_evaluator_that_is_down_is_a_503_with_retry_after(key_v2, member_a, settings, tmp_path):
    settings.RISKSHARE_EVALUATOR_SOCKET = str(tmp_path / "nobody.sock")
    answer = _evaluate(member_a, _body(_blind(MOBILES[:1])))
    assert answer.status_code == 503
    assert answer.json()["code"] == "evaluator_unavailable" and answer["Retry-After"]
    assert not TokenEvaluationCount.objects.exists()


def test_the_key_directory_is_signed_and_lists_both_schemes(key_v2, api_client):
    answer = api_client.get("/api/v1/tokens/keys")
    assert answer.status_code == 200
    document = answer.json()
    by_version = {key["version"]: key for key in document["keys"]}
    assert by_version[1]["scheme"] == "hmac-v1" and by_version[1]["public_keys"] is None
    assert by_version[2]["scheme"] == "voprf-v2" and by_version[2]["public_keys"] == key_v2.public_keys
    signed = base64.b64decode(document["signed"])
    assert signed == directory_document(document["keys"])
    pem = api_client.get("/api/v1/reports/public-key").json()["public_key_pem"]
    load_pem_public_key(pem.encode()).verify(base64.b64decode(document["signature"]), signed)


def test_no_seed_reaches_the_web_processs_settings_or_the_database(key_v2, token_evaluator):
    seed = token_evaluator.seed(2).hex()
    for name in dir(settings):
        if name.isupper():
            assert seed not in repr(getattr(settings, name)).lower(), name
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = 'public' AND table_type = 'BASE TABLE'"
        )
        tables = [row[0] for row in cursor.fetchall()]
        assert "sharing_consortiumkey" in tables
        for table in tables:
            cursor.execute(f'SELECT count(*) FROM "{table}" t WHERE t::text ILIKE %s', [f"%{seed}%"])  # noqa: S608
            assert cursor.fetchone() == (0,), table


def test_an_evaluation_runs_the_same_statements_for_3_elements_or_3000(key_v2, member_a):
    from django.test.utils import CaptureQueriesContext

    def statements(queries) -> list[str]:
        found = [" ".join(q["sql"].split())[:50] for q in queries.captured_queries]
        return [s for s in found if not s.startswith(("SAVEPOINT", "RELEASE SAVEPOINT"))]

    assert _evaluate(member_a, _body(_blind(MOBILES))).status_code == 200  # the member's limits, now cached
    runs = []
    for count in (3, 3000):
        values = [f"137{n:08d}" for n in range(count)]
        with CaptureQueriesContext(connection) as queries:
            assert _evaluate(member_a, _body(_blind(values))).status_code == 200
        runs.append(statements(queries))
    assert runs[0] == runs[1]
    assert [statement[:30] for statement in runs[0]] == [
        'SELECT c."id", c."institution_',  # the credential, its member (authentication)
        'SELECT "sharing_consortiumkey"',  # the key version: current, v2
        "SELECT coalesce(sum(evaluated)",  # the counters, before the evaluator is asked
        "WITH window_total AS ( SELECT ",  # counted within both limits
        "INSERT INTO members_auditevent",  # the audit event, appended unchained (no lock: members.audit)
    ]
