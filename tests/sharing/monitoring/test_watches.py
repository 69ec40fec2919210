"""POST/GET/DELETE /api/v1/watches: per-row errors, replacement by reference, isolation, limits, purge."""

from __future__ import annotations

import datetime as dt
import uuid

import orjson
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from sharing.models import LookupEntry, MemberWatchCount, Watch, WatchToken
from sharing.retention.services import watches_purge
from sharing.tokens.pepper import pepper_token
from tests.conftest import issue
from tests.sharing.conftest import lookup, new_token

TODAY = dt.date.today()


def in_days(n: int) -> str:
    return (TODAY + dt.timedelta(days=n)).isoformat()


def watch(reference: str | None = None, tokens: list[str] | None = None, **overrides):
    row = {
        "reference": reference or f"LOAN-{uuid.uuid4().hex[:10]}",
        "identifiers": [{"type": "cn_resident_id", "token": t} for t in (tokens or [new_token()])[:1]]
        + [{"type": "cn_mobile", "token": t} for t in (tokens or [])[1:2]],
        "expires_on": in_days(365),
    }
    row.update(overrides)
    return row


def put_watches(member, rows, key: str | None = None, **body_overrides):
    body = {"key_version": 1, "consent_reference": "consent-2024-001", "watches": rows, **body_overrides}
    return member.client().generic(
        "POST",
        "/api/v1/watches",
        orjson.dumps(body),
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY=key or str(uuid.uuid4()),
    )


def test_watches_are_stored_peppered_and_answered_with_counts(member_a, key_v1):
    token = new_token()
    response = put_watches(member_a, [watch("LOAN-1", [token]), watch("LOAN-2")])
    assert response.status_code == 200, response.content
    assert response.json() == {"accepted": 2, "rejected": 0, "errors": []}
    stored = WatchToken.objects.get(watch__reference="LOAN-1")
    assert bytes(stored.token) == pepper_token(token)
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM sharing_watchtoken WHERE token = %s", [bytes.fromhex(token)])
        assert cursor.fetchone()[0] == 0
    # Watching is never an inquiry.
    assert LookupEntry.objects.count() == 0


@pytest.mark.parametrize(
    "row,field,code",
    [
        (watch(reference="has space"), "/reference", "bad_format"),
        (watch(expires_on=(TODAY - dt.timedelta(days=1)).isoformat()), "/expires_on", "past_date"),
        (watch(expires_on=in_days(3700)), "/expires_on", "too_far"),
        (watch(expires_on="2025-02-30"), "/expires_on", "bad_date"),
        (
            {"reference": "LOAN-X", "identifiers": [{"type": "cn_resident_id", "token": new_token()}]},
            "/expires_on",
            "required",
        ),
        (watch(colour="red"), "/colour", "unknown_field"),
        (watch(identifiers=[{"type": "cn_resident_id", "token": "ABC"}]), "/identifiers/0/token", "bad_token"),
        (watch(identifiers=[{"type": "cn_resident_id", "token": "A" * 64}]), "/identifiers/0/token", "bad_token"),
        (watch(identifiers=[{"type": "passport", "token": new_token()}]), "/identifiers/0/type", "invalid_choice"),
        (watch(identifiers=[]), "/identifiers", "bad_count"),
        (
            watch(tokens=[new_token()], identifiers=[{"type": "cn_mobile", "token": new_token()}] * 2),
            "/identifiers/1/type",
            "duplicate_type",
        ),
    ],
)
def test_invalid_rows_are_listed_and_nothing_of_them_is_written(member_a, key_v1, row, field, code):
    body = put_watches(member_a, [watch("GOOD-1"), row]).json()
    assert (body["accepted"], body["rejected"]) == (1, 1)
    assert [(e["index"], e["field"], e["code"]) for e in body["errors"]] == [(1, field, code)]
    assert body["errors"][0]["message"]
    assert list(Watch.objects.values_list("reference", flat=True)) == ["GOOD-1"]


@pytest.mark.parametrize("consent", ["", "   ab  ", "abc\x07def", "x" * 201, "\u200b\u200bab\u3000"])
def test_a_weak_consent_reference_is_refused_as_lookups_refuse_it(member_a, key_v1, consent):
    response = put_watches(member_a, [watch()], consent_reference=consent)
    assert response.status_code == 400
    assert response.json()["code"] == "consent_required"
    assert [e["field"] for e in response.json()["errors"]] == ["/consent_reference"]
    assert Watch.objects.count() == 0
    # The same reference, the same answer from a lookup that needs consent.
    assert lookup(member_a, [new_token()], consent=consent).json()["code"] == "consent_required"


def test_the_consent_reference_is_required(member_a, key_v1):
    body = {"key_version": 1, "watches": [watch()]}
    response = member_a.client().generic(
        "POST", "/api/v1/watches", orjson.dumps(body), content_type="application/json", HTTP_IDEMPOTENCY_KEY="k"
    )
    assert response.status_code == 400
    assert [(e["field"], e["code"]) for e in response.json()["errors"]] == [("/consent_reference", "required")]


@pytest.mark.parametrize(("version", "code"), [(2, "unknown_key_version"), ("1", "invalid_type"), (0, "min_value")])
def test_the_key_version_refuses_the_whole_request(member_a, key_v1, version, code):
    response = put_watches(member_a, [watch(), watch(reference="bad ref")], key_version=version)
    assert response.status_code == 400
    assert [(e["field"], e["code"]) for e in response.json()["errors"]] == [("/key_version", code)]
    assert Watch.objects.count() == 0


def test_more_than_10000_watches_is_too_large(member_a, key_v1):
    rows = [watch(f"L-{n}", expires_on=in_days(30)) for n in range(10_001)]
    assert put_watches(member_a, rows).status_code == 413
    rows[0]["colour"] = "red"  # a body that does not decode whole is refused the same way
    assert put_watches(member_a, rows).status_code == 413
    assert Watch.objects.count() == 0


def test_consent_reference_is_stored_trimmed(member_a, key_v1):
    put_watches(member_a, [watch("LOAN-1")], consent_reference="  C-1234  ")
    assert Watch.objects.get().consent_reference == "C-1234"


def test_resending_a_reference_replaces_its_identifiers_and_expiry(member_a, key_v1):
    first, second = new_token(), new_token()
    put_watches(member_a, [watch("LOAN-1", [first])])
    put_watches(member_a, [watch("LOAN-1", [second, new_token()], expires_on=in_days(30))])
    stored = Watch.objects.get(reference="LOAN-1")
    assert stored.expires_on == TODAY + dt.timedelta(days=30)
    tokens = {bytes(t) for t in WatchToken.objects.filter(watch=stored).values_list("token", flat=True)}
    assert pepper_token(second) in tokens and pepper_token(first) not in tokens
    assert len(tokens) == 2


def test_idempotency_key_replays_the_answer(member_a, key_v1):
    rows = [watch("LOAN-1")]
    first = put_watches(member_a, rows, key="k-1")
    Watch.objects.all().delete()
    again = put_watches(member_a, rows, key="k-1")
    assert again.json() == first.json()
    assert Watch.objects.count() == 0  # the first answer, not a second write
    assert put_watches(member_a, [watch("LOAN-2")], key="k-1").status_code == 422


def test_another_members_watch_is_the_same_404(member_a, member_b, key_v1):
    put_watches(member_a, [watch("LOAN-1")])
    mine = member_a.client().get("/api/v1/watches/LOAN-1")
    assert mine.status_code == 200 and mine.json()["reference"] == "LOAN-1"
    assert "token" not in mine.content.decode()
    theirs = member_b.client().get("/api/v1/watches/LOAN-1")
    missing = member_b.client().get("/api/v1/watches/NOPE")
    assert theirs.status_code == missing.status_code == 404
    assert theirs.json()["detail"] == missing.json()["detail"]
    assert member_b.client().delete("/api/v1/watches/LOAN-1").status_code == 404
    assert member_b.client().get("/api/v1/watches").json()["results"] == []


def test_delete_removes_the_watch_and_its_tokens(member_a, key_v1):
    put_watches(member_a, [watch("LOAN-1")])
    assert member_a.client().delete("/api/v1/watches/LOAN-1").status_code == 204
    assert Watch.objects.count() == WatchToken.objects.count() == 0
    assert member_a.client().get("/api/v1/watches/LOAN-1").status_code == 404


def test_list_pages_and_filters_expired(member_a, key_v1):
    put_watches(member_a, [watch(f"LOAN-{i}") for i in range(5)])
    Watch.objects.filter(reference="LOAN-0").update(expires_on=TODAY - dt.timedelta(days=1))
    client = member_a.client()
    page = client.get("/api/v1/watches?page_size=2").json()
    assert [w["reference"] for w in page["results"]] == ["LOAN-0", "LOAN-1"]
    assert page["results"][0]["expired"] is True
    with CaptureQueriesContext(connection) as queries:
        rest = client.get(page["next"]).json()
    assert [w["reference"] for w in rest["results"]] == ["LOAN-2", "LOAN-3"]
    assert len(queries) <= 4  # credential, page; nothing per watch
    expired = client.get("/api/v1/watches?expired=true").json()["results"]
    assert [w["reference"] for w in expired] == ["LOAN-0"]
    assert len(client.get("/api/v1/watches?expired=false").json()["results"]) == 4


def test_rows_over_the_member_limit_are_refused(member_a, member_b, key_v1, settings):
    settings.RISKSHARE_WATCHES_PER_MEMBER = 3
    put_watches(member_a, [watch("LOAN-1"), watch("LOAN-2")])
    body = put_watches(member_a, [watch("LOAN-1"), watch("LOAN-3"), watch("LOAN-4")]).json()
    # Replacing an existing watch takes no room.
    assert (body["accepted"], body["rejected"]) == (2, 1)
    assert [(e["index"], e["code"]) for e in body["errors"]] == [(2, "watch_limit")]
    full = put_watches(member_a, [watch("LOAN-5")])
    assert full.status_code == 409 and full.json()["code"] == "watch_limit"
    # Another member's room is its own.
    assert put_watches(member_b, [watch("LOAN-5")]).json()["accepted"] == 1


def test_scope_monitoring_is_required(key_v1, member_a):
    lookups_only = issue(member_a.institution, scopes=["lookups"])
    assert put_watches(lookups_only, [watch()]).status_code == 403


def test_retention_purges_watches_90_days_after_expiry(member_a, key_v1):
    put_watches(member_a, [watch("OLD"), watch("RECENT"), watch("LIVE")])
    Watch.objects.filter(reference="OLD").update(expires_on=TODAY - dt.timedelta(days=91))
    Watch.objects.filter(reference="RECENT").update(expires_on=TODAY - dt.timedelta(days=89))
    assert watches_purge(today=TODAY) == 1
    assert set(Watch.objects.values_list("reference", flat=True)) == {"RECENT", "LIVE"}
    assert WatchToken.objects.count() == 2


def counted(member) -> int:
    row = MemberWatchCount.objects.filter(member=member.institution).first()
    return row.watches if row else 0


def test_the_member_count_follows_every_insert_replacement_and_delete(member_a, member_b, key_v1):
    put_watches(member_a, [watch("LOAN-1"), watch("LOAN-2"), watch("LOAN-3")])
    put_watches(member_a, [watch("LOAN-1"), watch("LOAN-4")])  # one replaced, one new
    put_watches(member_b, [watch("LOAN-1")])
    assert (counted(member_a), counted(member_b)) == (4, 1)
    member_a.client().delete("/api/v1/watches/LOAN-2")
    Watch.objects.filter(reference="LOAN-3").delete()  # any other path too (the triggers keep it)
    Watch.objects.filter(reference="LOAN-4").update(expires_on=TODAY - dt.timedelta(days=91))
    watches_purge(today=TODAY)
    assert (counted(member_a), counted(member_b)) == (1, 1)
    assert counted(member_a) == Watch.objects.filter(member=member_a.institution).count()


def test_the_limit_is_read_from_the_count_and_references_probed_only_near_it(member_a, key_v1, settings):
    put_watches(member_a, [watch("LOAN-1"), watch("LOAN-2")])
    settings.RISKSHARE_WATCHES_PER_MEMBER = 10
    with CaptureQueriesContext(connection) as far:
        assert put_watches(member_a, [watch("LOAN-1"), watch("LOAN-3")]).json()["accepted"] == 2
    assert not [q for q in far.captured_queries if "count(*)" in q["sql"].lower()]
    assert not [q for q in far.captured_queries if "reference = ANY" in q["sql"]]
    settings.RISKSHARE_WATCHES_PER_MEMBER = 4
    with CaptureQueriesContext(connection) as near:
        body = put_watches(member_a, [watch("LOAN-1"), watch("LOAN-4"), watch("LOAN-5"), watch("LOAN-2")]).json()
    assert [q for q in near.captured_queries if "reference = ANY" in q["sql"]]
    assert [(e["index"], e["code"]) for e in body["errors"]] == [(2, "watch_limit")]
    assert counted(member_a) == 4


def _statements(queries) -> list[str]:
    statements = [" ".join(q["sql"].split())[:60] for q in queries.captured_queries]
    return [s for s in statements if not s.startswith(("SAVEPOINT", "RELEASE SAVEPOINT"))]  # the test's own


def test_a_post_runs_the_same_statements_for_3_watches_or_300(member_a, key_v1):
    put_watches(member_a, [watch("KNOWN")])
    runs = []
    for count in (3, 300):
        with CaptureQueriesContext(connection) as queries:
            assert (
                put_watches(member_a, [watch(f"N{count}-{i}") for i in range(count)] + [watch("KNOWN")]).status_code
                == 200
            )
        runs.append(_statements(queries))
    assert runs[0] == runs[1]
    expected = [
        'SELECT c."id", c."institution_id"',  # the credential
        'SELECT "sharing_consortiumkey"."version" A',  # key versions
        "WITH claimed AS ( INSERT INTO sharing_idem",  # the Idempotency-Key
        "SELECT pg_advisory_xact_lock(%s, %s)",  # the member's watch writes, one at a time
        "SELECT coalesce((SELECT watches FROM shari",  # the member's count (no count(*), no probe)
        "INSERT INTO sharing_watch (member_id, refe",
        "DELETE FROM sharing_watchtoken WHERE watch",  # the replaced watch's old tokens
        "INSERT INTO sharing_watchtoken (watch_id, ",
        "INSERT INTO members_auditevent (occurred_a",  # unchained: no lock shared with other writers
        'UPDATE "sharing_idempotencykey" SET "state',
    ]
    assert len(runs[0]) == len(expected)
    assert all(statement.startswith(start) for statement, start in zip(runs[0], expected, strict=True)), runs[0]
