"""POST /api/v1/lookups: answers from every member's reports, never naming them, every lookup logged."""

from __future__ import annotations

import datetime as dt

import orjson
import psycopg
import pytest
import time_machine
from django.db import DatabaseError, transaction
from django.utils import timezone

from members.models import AuditEvent
from sharing.models import Lookup, LookupEntry
from sharing.tokens.pepper import pepper_token
from tests.conftest import issue
from tests.factories import InstitutionFactory
from tests.sharing.conftest import blacklist, days_ago, lookup, new_token, overdue, reported


def test_hit_and_miss_in_request_order(member_a, member_b, key_v1):
    token, other = new_token(), new_token()
    reported(
        member_b,
        [
            overdue([token], overdue_days=45, overdue_amount="1000.00", event_date="2025-05-01"),
            blacklist([token], category="fraud_ring"),
        ],
    )
    reported(member_a, [overdue([token], overdue_days=90, overdue_amount="250.50", event_date="2025-07-01")])
    response = lookup(member_a, [other, token])
    assert response.status_code == 200, response.content
    body = response.json()
    miss, hit = body["results"]
    assert miss["token"] == other and miss["hit"] is False and miss["reporting_members"] == 0
    assert hit == {
        "type": "cn_resident_id",
        "token": token,
        "hit": True,
        "reporting_members": 2,
        "reported_by_you": True,
        # Reported today (the summary keeps the UTC date of the last report).
        "blacklist": {
            "active": True,
            "categories": ["fraud_ring"],
            "last_reported": dt.datetime.now(dt.UTC).date().isoformat(),
        },
        "delinquency": {
            "active_records": 2,
            "max_overdue_days": 90,
            "total_overdue_amount": "1250.50",
            "latest_event_date": "2025-07-01",
            "under_relief": 0,
        },
        "exposure": None,
        "inquiries": {"members_30d": 0, "members_90d": 0},
        "disputed": False,
        "statement": False,
        "identity_at_risk": None,
    }
    assert miss["exposure"] is None
    # Nothing in the answer names or identifies the reporting members.
    text = response.content.decode()
    for member in (member_a, member_b):
        assert member.institution.uscc not in text and member.institution.name not in text
        assert f'"{member.institution.pk}"' not in text


def test_retracted_records_never_count(member_a, member_b, key_v1):
    token = new_token()
    reported(member_b, [blacklist([token], reference="WRONG")])
    member_b.client().post("/api/v1/records/WRONG/retract", {"reason": "wrong person"}, format="json")
    result = lookup(member_a, [token]).json()["results"][0]
    assert result["hit"] is False and result["reporting_members"] == 0


def test_consent_is_required_for_credit_purposes(member_a, key_v1):
    for purpose in ("credit_application", "account_opening"):
        response = lookup(member_a, [new_token()], purpose=purpose, consent=None)
        assert response.status_code == 400
        assert response.json()["errors"][0] == {
            "field": "/consent_reference",
            "code": "consent_required",
            "message": response.json()["detail"],
        }
    for purpose in ("post_loan_monitoring", "fraud_investigation"):
        assert lookup(member_a, [new_token()], purpose=purpose, consent=None).status_code == 200


@pytest.mark.parametrize(
    "mutation,field",
    [
        ({"purpose": "curiosity"}, "/purpose"),
        ({"identifiers": []}, "/identifiers"),
        ({"identifiers": [{"type": "cn_mobile", "token": "XYZ"}]}, "/identifiers/0/token"),
        # Token characters are checked for the whole request at once; the error still names the first.
        (
            {"identifiers": [{"type": "cn_mobile", "token": "a" * 64}, {"type": "cn_mobile", "token": "A" * 64}]},
            "/identifiers/1/token",
        ),
        # Not ASCII (full-width digits), and spaces, which bytes.fromhex would have let through.
        (
            {"identifiers": [{"type": "cn_mobile", "token": "a" * 64}, {"type": "cn_mobile", "token": "０" * 64}]},
            "/identifiers/1/token",
        ),
        ({"identifiers": [{"type": "cn_mobile", "token": "ab " * 21 + "a"}]}, "/identifiers/0/token"),
        ({"identifiers": [{"type": "passport", "token": "a" * 64}]}, "/identifiers/0/type"),
        ({"member": 3}, "/member"),
    ],
)
def test_invalid_requests(member_a, key_v1, mutation, field):
    body = {
        "purpose": "fraud_investigation",
        "key_version": 1,
        "identifiers": [{"type": "cn_mobile", "token": new_token()}],
    }
    body.update(mutation)
    response = member_a.client().generic("POST", "/api/v1/lookups", orjson.dumps(body), content_type="application/json")
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == field
    assert not Lookup.objects.exists()


def test_limits_and_key_versions(member_a, key_v1):
    assert lookup(member_a, [new_token()] * 10_001).status_code == 413
    response = lookup(member_a, [new_token()], key_version=7)
    assert response.status_code == 400 and response.json()["code"] == "unknown_key_version"
    response = member_a.client().generic("POST", "/api/v1/lookups", b"{oops", content_type="application/json")
    assert response.status_code == 400 and response.json()["code"] == "parse_error"


def test_needs_lookups_scope(db, key_v1):
    member = issue(InstitutionFactory(), scopes=["records:write"])
    assert lookup(member, [new_token()]).status_code == 403


def test_every_lookup_is_logged_append_only_and_audited(member_a, key_v1):
    tokens = [new_token(), new_token()]
    lookup_id = lookup(member_a, tokens, consent="signed-form-77").json()["id"]
    logged = Lookup.objects.get(pk=lookup_id)
    assert (logged.purpose, logged.consent_reference, logged.identifiers, logged.hits) == (
        "credit_application",
        "signed-form-77",
        2,
        0,
    )
    entries = list(LookupEntry.objects.filter(lookup=logged).order_by("position"))
    assert [bytes(e.token) for e in entries] == [pepper_token(t) for t in tokens]
    assert all(e.multi_lending and e.member_id == member_a.institution.pk for e in entries)
    event = AuditEvent.objects.get(action="lookup.performed", object_id=str(lookup_id))
    assert (event.object_type, event.object_repr, event.institution_id) == (
        "sharing.lookup",
        f"查询 {lookup_id}（授信申请）",  # in the platform's language, whatever the request's
        member_a.institution.pk,
    )
    with pytest.raises(DatabaseError), transaction.atomic():
        Lookup.objects.filter(pk=lookup_id).update(purpose="fraud_investigation")
    with pytest.raises(DatabaseError), transaction.atomic():
        LookupEntry.objects.filter(lookup=logged).delete()


def test_multi_lending_signal_counts_other_members_credit_lookups(member_a, member_b, key_v1):
    token = new_token()
    third = issue(InstitutionFactory())
    lookup(member_b, [token])  # credit application at B
    lookup(third, [token], purpose="account_opening", consent="form-3")  # account opening at a third lender
    lookup(third, [token], purpose="fraud_investigation", consent=None)  # not a credit purpose
    lookup(member_a, [token])  # A's own earlier lookup does not count for A
    # An old lookup, 60 days ago, by another lender: in the 90-day window only.
    old = issue(InstitutionFactory())
    with time_machine.travel(timezone.now() - dt.timedelta(days=60), tick=False):
        lookup(old, [token])
    result = lookup(member_a, [token]).json()["results"][0]
    assert result["inquiries"] == {"members_30d": 2, "members_90d": 3}


def test_past_answer_is_returned_to_its_member_only(member_a, member_b, key_v1):
    token, asked_elsewhere, unknown = new_token(), new_token(), new_token()
    reported(member_b, [overdue([token], reference="PAST-1")])
    lookup(member_b, [asked_elsewhere])
    answer = lookup(member_a, [unknown, token, asked_elsewhere]).json()
    assert [r["hit"] for r in answer["results"]] == [False, True, False]
    assert answer["results"][2]["inquiries"] == {"members_30d": 1, "members_90d": 1}
    entries = LookupEntry.objects.filter(lookup_id=answer["id"]).order_by("position")
    assert [(e.position, e.hit) for e in entries] == [(0, False), (1, True), (2, False)]
    # The record changes afterwards; the past answer does not.
    resolved = member_b.client().post("/api/v1/records/PAST-1/resolve", {"resolved_date": days_ago(0)}, format="json")
    assert resolved.status_code == 200
    assert lookup(member_a, [token]).json()["results"][0]["hit"] is False
    past = member_a.client().get(f"/api/v1/lookups/{answer['id']}")
    assert past.status_code == 200
    assert past.json()["results"] == answer["results"]
    assert past.json()["purpose"] == "credit_application"
    foreign = member_b.client().get(f"/api/v1/lookups/{answer['id']}")
    missing = member_b.client().get("/api/v1/lookups/999999")
    assert foreign.status_code == missing.status_code == 404
    assert foreign.json() == missing.json()


def test_a_token_asked_twice_is_answered_at_both_positions(member_a, member_b, key_v1):
    token, other = new_token(), new_token()
    reported(member_b, [blacklist([token])])
    results = lookup(member_a, [token, other, token]).json()["results"]
    assert [result["hit"] for result in results] == [True, False, True]
    assert results[0] == results[2] and results[0]["reporting_members"] == 1


def test_a_lookup_read_in_slices_answers_and_logs_every_position(member_a, member_b, key_v1, monkeypatch):
    from sharing.lookups import services as lookups

    hit, other_hit, asked_elsewhere = new_token(), new_token(), new_token()
    reported(member_b, [overdue([hit], reference="S-1"), blacklist([other_hit], reference="S-2")])
    lookup(member_b, [asked_elsewhere])
    tokens = [new_token(), hit, new_token(), asked_elsewhere, other_hit, new_token(), hit, new_token()]
    whole = lookup(member_a, tokens).json()

    monkeypatch.setattr(lookups, "READ_SLICE", 3)  # slices [0-2], [3-5], [6-7]; `hit` in the first and the last
    sliced = lookup(member_a, tokens).json()

    assert [r["hit"] for r in sliced["results"]] == [False, True, False, False, True, False, True, False]
    assert sliced["results"][3]["inquiries"] == {"members_30d": 1, "members_90d": 1}
    assert sliced["results"] == whole["results"]
    entries = LookupEntry.objects.filter(lookup_id=sliced["id"]).order_by("position")
    assert [(e.position, e.hit, bytes(e.token)) for e in entries] == [
        (n, n in (1, 4, 6), pepper_token(token)) for n, token in enumerate(tokens)
    ]


@pytest.mark.django_db(transaction=True)
def test_outside_a_test_transaction_the_log_is_committed_with_the_answer(member_a, key_v1):
    """As in production: the log's transaction begins and commits inside its pipeline."""
    from django.db import connection

    from core.citus import citus_present
    from members.audit import audit_chain_verify

    def session_settings():
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT current_setting('synchronous_commit'), current_setting('plan_cache_mode'), "
                "current_setting('max_parallel_workers_per_gather')"
            )
            return cursor.fetchone()

    before = session_settings()
    tokens = [new_token() for _ in range(3)]
    response = lookup(member_a, tokens)
    assert response.status_code == 200, response.content
    assert connection.connection.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
    # Changed for the lookup's own transactions only (set_config local): the claim's commit alone skips
    # the wait for the disk, and the session parallelizes as before. Prepared statements plan
    # generically in every session (settings.py), but on a Citus cluster as PostgreSQL chooses
    # (core.citus.connection_plans_adapt says why).
    plans = "auto" if citus_present(connection) else "force_generic_plan"
    assert session_settings() == before == ("on", plans, before[2])
    logged = Lookup.objects.get(pk=response.json()["id"])
    assert logged.identifiers == 3 and logged.hits == 0
    entries = LookupEntry.objects.filter(lookup=logged).order_by("position")
    assert [bytes(entry.token) for entry in entries] == [pepper_token(token) for token in tokens]
    assert AuditEvent.objects.filter(action="lookup.performed", object_id=str(logged.pk)).count() == 1
    assert audit_chain_verify().ok


@pytest.mark.django_db(transaction=True)
def test_a_lookup_owns_its_transactions_and_refuses_to_run_inside_another(member_a, key_v1):
    """Its log must be committed when it answers: inside a caller's atomic block it raises and logs nothing."""
    from sharing.lookups.contracts import LOOKUP
    from sharing.lookups.services import lookup_answer

    body = orjson.dumps(
        {
            "purpose": "fraud_investigation",
            "key_version": 1,
            "identifiers": [{"type": "cn_mobile", "token": new_token()}],
        }
    )
    with pytest.raises(RuntimeError, match="owns its transaction"), transaction.atomic():
        lookup_answer(credential=member_a.credential, request=LOOKUP.parse(body))
    assert not Lookup.objects.exists() and not LookupEntry.objects.exists()
    assert lookup(member_a, [new_token()]).status_code == 200


@pytest.mark.django_db(transaction=True)
def test_the_prepared_reads_and_entries_are_planned_once_per_connection(member_a, key_v1):
    """PostgreSQL would plan them again at every lookup (0.4 ms of a single one) for the same plan."""
    from django.db import connection

    from core.citus import citus_present

    for size in (1, 1, 3, 1):
        assert lookup(member_a, [new_token() for _ in range(size)]).status_code == 200
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT CASE WHEN statement LIKE '%%INSERT INTO sharing_lookupentry%%' THEN 'entries'"
            " WHEN statement LIKE '%%JOIN sharing_tokensummary%%' THEN 'read' ELSE 'read one' END,"
            " generic_plans, custom_plans FROM pg_prepared_statements WHERE statement LIKE ANY(%s)",
            [["%sharing_tokensummary%", "%INSERT INTO sharing_lookupentry%"]],
        )
        plans = sorted(cursor.fetchall())
    # The reads (summaries and inquiry counts) of one token and of several, and the entries' insert.
    if citus_present(connection):
        # On a Citus cluster they are planned at every call (custom plans: core.citus.connection_plans_adapt),
        # a cost bench/citus.py measures (docs/performance.md, "On a Citus cluster").
        assert plans == [("entries", 0, 4), ("read", 0, 1), ("read one", 0, 3)]
    else:
        assert plans == [("entries", 4, 0), ("read", 1, 0), ("read one", 3, 0)]


def test_query_count_is_constant(member_a, key_v1, django_assert_num_queries):
    lookup(member_a, [new_token()])  # the first request of the minute also records the key's last use
    for size in (1, 100, 500):
        # auth; two transactions, each its pipeline's own in production (a savepoint and its release
        # here): the claim's (both quota windows with the read settings and the lookup's id; summaries
        # with inquiry counts) and the log's (entries, lookup row, unchained audit event: no chain lock).
        # The key-version state and the quota limits come from the cache after the first request;
        # the RateLimit headers read the two windows' counters by primary key (sharing.lookups.ratelimit).
        with django_assert_num_queries(11):
            assert lookup(member_a, [new_token() for _ in range(size)]).status_code == 200


def test_the_stored_answer_holds_no_token_as_sent(member_a, member_b, key_v1):
    """Sealed at rest (sharing.tokens.sealing): the past answer gives the tokens back, the row alone does not."""
    from cryptography.exceptions import InvalidTag

    from sharing.lookups.services import answer_unpack

    hit, miss = new_token(), new_token()
    reported(member_b, [blacklist([hit])])
    answered = lookup(member_a, [hit, miss]).json()
    stored = bytes(Lookup.objects.get(pk=answered["id"]).answer)
    for token in (hit, miss):
        assert token.encode() not in stored and bytes.fromhex(token) not in stored
    past = member_a.client().get(f"/api/v1/lookups/{answered['id']}").json()
    assert past["results"] == answered["results"]
    with pytest.raises(InvalidTag):  # bound to its own lookup: moved to another row, it does not open
        answer_unpack(stored, lookup_id=answered["id"] + 1)


def test_answers_and_alerts_stored_before_sealing_are_sealed_by_the_migration(member_a, key_v1):
    import importlib
    import zlib

    from django.apps import apps

    from sharing.models import Alert
    from sharing.tokens.sealing import answer_open

    migration = importlib.import_module("sharing.migrations.0012_seal_stored_tokens")
    token = new_token()
    whole = {"type": "cn_mobile", "token": token, "hit": False, "reporting_members": 0}
    old = Lookup.objects.create(
        member=member_a.institution,
        credential=member_a.credential,
        purpose="fraud_investigation",
        key_version=1,
        identifiers=1,
        hits=0,
        answer=zlib.compress(orjson.dumps([whole])),
    )
    alert = Alert.objects.create(
        member=member_a.institution,
        kind="record_corrected",
        payload={"lookup_id": old.pk, "looked_up_at": "2026-11-01T00:00:00+00:00", "identifiers": [whole]},
    )

    migration.seal_answers(apps, None)
    migration.seal_alert_identifiers(apps, None)

    old.refresh_from_db()
    alert.refresh_from_db()
    assert token.encode() not in bytes(old.answer) and token not in str(alert.payload)
    assert answer_open(bytes(old.answer), lookup_id=old.pk) == zlib.compress(orjson.dumps([whole]))
    listed = member_a.client().get("/api/v1/alerts").json()["results"]
    assert [a["payload"]["identifiers"] for a in listed if a["id"] == alert.pk] == [[whole]]


@pytest.mark.django_db(transaction=True)
def test_the_first_lookup_after_the_database_dropped_the_connection_is_answered(member_a, key_v1, monkeypatch):
    """The key's read and the lookup's pipelines use psycopg cursors; they health-check the connection first."""
    from django.core.signals import request_started
    from django.db import connection

    monkeypatch.setitem(connection.settings_dict, "CONN_MAX_AGE", 60)  # as in production (tests use 0)
    connection.close()
    assert lookup(member_a, [new_token()]).status_code == 200
    dropped = connection.connection.info.backend_pid
    with pytest.raises(psycopg.errors.AdminShutdown):  # as when the database restarts
        connection.connection.execute("SELECT pg_terminate_backend(pg_backend_pid())")
    request_started.send(sender=None)  # a server process's next request (the test client skips this signal)

    response = lookup(member_a, [new_token()])
    assert response.status_code == 200, response.content
    assert connection.connection.info.backend_pid != dropped
    connection.close()


@pytest.fixture
def usable_checks(monkeypatch):
    """How many times Django's health check (a ``SELECT 1`` round trip) ran."""
    from django.db import connection

    calls = []
    check = connection.is_usable

    def counted():
        calls.append(1)
        return check()

    monkeypatch.setattr(connection, "is_usable", counted)
    monkeypatch.setitem(connection.settings_dict, "CONN_MAX_AGE", 60)  # as in production (tests use 0)
    return calls


@pytest.mark.django_db(transaction=True)
def test_a_live_idle_connection_is_reused_without_a_health_check_round_trip(member_a, key_v1, usable_checks):
    from django.core.signals import request_started
    from django.db import connection

    connection.close()
    assert lookup(member_a, [new_token()]).status_code == 200
    serving = connection.connection.info.backend_pid
    request_started.send(sender=None)

    assert lookup(member_a, [new_token()]).status_code == 200
    assert connection.connection.info.backend_pid == serving
    assert usable_checks == []
    connection.close()


@pytest.mark.django_db(transaction=True)
def test_a_connection_the_server_dropped_is_checked_and_replaced(member_a, key_v1, usable_checks):
    """As when the database restarts: the server terminates the idle backend from its side."""
    import time

    from django.core.signals import request_started
    from django.db import connection

    connection.close()
    assert lookup(member_a, [new_token()]).status_code == 200
    dropped = connection.connection.info.backend_pid
    other = connection.copy()
    with other.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s::int, 5000)", [dropped])  # ::int: unambiguous on Citus
    other.close()
    time.sleep(0.05)  # the notice and the close travel on their own
    request_started.send(sender=None)

    response = lookup(member_a, [new_token()])
    assert response.status_code == 200, response.content
    assert connection.connection.info.backend_pid != dropped
    assert usable_checks == [1]
    connection.close()
