"""POST /api/v1/batches: one-pass validation, set-based writes, Stripe-style idempotency."""

from __future__ import annotations

import datetime as dt
import uuid

import msgspec
import orjson
import pytest
from django.db import connection
from django.utils import timezone

from sharing.models import Batch, ConsortiumKey, IdempotencyKey, Record, RecordIdentifier
from sharing.tokens.pepper import pepper_token
from tests.sharing.conftest import blacklist, days_ago, new_token, overdue, submit
from tests.sharing.records.test_idempotency import key_held_elsewhere


def test_valid_batch_is_accepted_and_stored_peppered(member_a, key_v1):
    token = new_token()
    response = submit(member_a, [blacklist([token]), overdue()])
    assert response.status_code == 202, response.content
    body = response.json()
    assert body == {
        "id": body["id"],
        "status": "received",
        "received": 2,
        "accepted": 2,
        "rejected": 0,
        "errors": [],
    }
    assert Record.objects.filter(member=member_a.institution).count() == 2
    stored = list(RecordIdentifier.objects.values_list("token", flat=True))
    assert pepper_token(token) in [bytes(t) for t in stored]
    # The token as sent is nowhere in the database.
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM sharing_recordidentifier WHERE token = %s", [bytes.fromhex(token)])
        assert cursor.fetchone()[0] == 0
        cursor.execute("SELECT count(*) FROM sharing_record r WHERE strpos(r::text, %s) > 0", [token])
        assert cursor.fetchone()[0] == 0


def test_invalid_records_are_reported_and_valid_ones_stored(member_a, key_v1):
    records = [blacklist(), blacklist(kind="fraud"), overdue(overdue_amount="1.234"), blacklist()]
    body = submit(member_a, records).json()
    assert (body["received"], body["accepted"], body["rejected"]) == (4, 2, 2)
    assert [(e["index"], e["field"], e["code"]) for e in body["errors"]] == [
        (1, "/kind", "invalid_choice"),
        (2, "/overdue_amount", "bad_decimal"),
    ]
    assert all(e["message"] for e in body["errors"])
    assert set(Record.objects.values_list("reference", flat=True)) == {records[0]["reference"], records[3]["reference"]}


TODAY = dt.date.today()


@pytest.mark.parametrize(
    "record,field,code",
    [
        (blacklist(reference="has space"), "/reference", "bad_format"),
        (blacklist(reference="x" * 65), "/reference", "bad_format"),
        (blacklist(reference=7), "/reference", "invalid_type"),
        ({k: v for k, v in blacklist().items() if k != "reference"}, "/reference", "required"),
        (blacklist(category="overdue"), "/category", "invalid_choice"),
        (blacklist(identifiers=[]), "/identifiers", "bad_count"),
        (blacklist(identifiers=[{"type": "cn_mobile", "token": new_token()}] * 9), "/identifiers", "bad_count"),
        (blacklist(identifiers=[{"type": "cn_mobile", "token": "ABC"}]), "/identifiers/0/token", "bad_token"),
        (
            blacklist(identifiers=[{"type": "cn_mobile", "token": new_token().upper()}]),
            "/identifiers/0/token",
            "bad_token",
        ),
        (blacklist(identifiers=[{"type": "passport", "token": new_token()}]), "/identifiers/0/type", "invalid_choice"),
        (
            blacklist(
                identifiers=[{"type": "cn_mobile", "token": new_token()}, {"type": "cn_mobile", "token": new_token()}]
            ),
            "/identifiers/1/type",
            "duplicate_type",
        ),
        (
            blacklist(identifiers=[{"type": "cn_mobile", "token": new_token(), "raw": "138"}]),
            "/identifiers/0/raw",
            "unknown_field",
        ),
        (blacklist(key_version="1"), "/key_version", "invalid_type"),
        (blacklist(key_version=9), "/key_version", "unknown_key_version"),
        (blacklist(event_date="2025-02-30"), "/event_date", "bad_date"),
        (blacklist(event_date="20250201"), "/event_date", "bad_date"),
        (blacklist(event_date=(TODAY + dt.timedelta(days=1)).isoformat()), "/event_date", "future_date"),
        (blacklist(event_date="2025-03-01", resolved_date="2025-02-01"), "/resolved_date", "date_order"),
        (blacklist(overdue_days=3), "/overdue_days", "not_allowed"),
        (blacklist(id_number="11010519491231002X"), "/id_number", "unknown_field"),
        (overdue(overdue_days=0), "/overdue_days", "min_value"),
        (overdue(overdue_days=1.5), "/overdue_days", "invalid_type"),
        (overdue(overdue_amount=12.5), "/overdue_amount", "invalid_type"),
        (overdue(overdue_amount="-1"), "/overdue_amount", "bad_decimal"),
        (overdue(currency="USD"), "/currency", "invalid_choice"),
        (overdue(product="payday"), "/product", "invalid_choice"),
        ({k: v for k, v in overdue().items() if k != "overdue_days"}, "/overdue_days", "required"),
        ("not an object", "", "invalid_type"),
    ],
)
def test_each_rule_has_a_stable_code(member_a, key_v1, record, field, code):
    body = submit(member_a, [record]).json()
    assert body["rejected"] == 1
    assert (field, code) in [(e["field"], e["code"]) for e in body["errors"]]
    assert not Record.objects.exists()


def test_retired_key_version_is_refused(member_a, key_v1):
    ConsortiumKey.objects.create(version=2, check_value="1" * 16, created_by="tests")
    ConsortiumKey.objects.filter(version=1).update(state="retired")
    body = submit(member_a, [blacklist(key_version=1), blacklist(key_version=2)]).json()
    assert [(e["index"], e["code"]) for e in body["errors"]] == [(0, "retired_key_version")]


def test_duplicate_reference_in_one_batch(member_a, key_v1):
    first = blacklist()
    body = submit(member_a, [first, blacklist(reference=first["reference"])]).json()
    assert [(e["index"], e["code"]) for e in body["errors"]] == [(1, "duplicate_reference")]


@pytest.mark.parametrize(
    "payload,status,code",
    [
        (b"{not json", 400, "parse_error"),
        (b"[]", 400, "invalid_type"),
        (b'{"records": []}', 400, "bad_count"),
        (b'{"records": {}}', 400, "invalid_type"),
        (b'{"records": "AAA"}', 400, "invalid_type"),
        (b'{"records": [{"reference": "\xff"}]}', 400, "parse_error"),  # not UTF-8
        (b"[" * 100_000 + b"]" * 100_000, 400, "parse_error"),
        (b'{"records": [{}], "member": 2}', 400, "unknown_field"),
        (b'{"records": [], "member": 2}', 400, "validation_error"),  # two problems
    ],
)
def test_malformed_bodies_are_problems(member_a, key_v1, payload, status, code):
    response = member_a.client().generic(
        "POST", "/api/v1/batches", payload, content_type="application/json", HTTP_IDEMPOTENCY_KEY="k1"
    )
    assert response.status_code == status
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == code
    assert not Batch.objects.exists() and not IdempotencyKey.objects.exists()


def test_more_than_10000_records_is_413(member_a, key_v1):
    response = submit(member_a, [blacklist() for _ in range(10_001)])
    assert response.status_code == 413
    assert response.json()["code"] == "payload_too_large"
    assert not Record.objects.exists()


def test_a_full_batch_of_the_largest_records_fits_the_body_limit(member_a, key_v1):
    types = ["cn_resident_id", "cn_mobile", "cn_uscc", "bank_card", "email", "device_id"]
    records = [
        overdue(
            reference=f"{n:064d}",
            identifiers=[{"type": t, "token": new_token()} for t in types],
            overdue_amount="123456789012.12",
            resolved_date=days_ago(1),
        )
        for n in range(10_000)
    ]
    response = submit(member_a, records)
    assert response.status_code == 202, response.content[:300]
    assert response.json()["accepted"] == 10_000


def test_oversized_body_is_413(member_a, key_v1, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = submit(member_a, [blacklist() for _ in range(20)])
    assert response.status_code == 413


def test_wrong_content_type_and_missing_idempotency_key(member_a, key_v1):
    client = member_a.client()
    body = orjson.dumps({"records": [blacklist()]})
    response = client.generic("POST", "/api/v1/batches", body, content_type="text/plain", HTTP_IDEMPOTENCY_KEY="k")
    assert response.status_code == 415
    response = client.generic("POST", "/api/v1/batches", body, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "/headers/Idempotency-Key"


def test_needs_records_write_scope(db, key_v1):
    from tests.conftest import issue
    from tests.factories import InstitutionFactory

    member = issue(InstitutionFactory(), scopes=["lookups"])
    assert submit(member, [blacklist()]).status_code == 403


class TestIdempotency:
    def test_same_key_same_body_replays_without_new_work(self, member_a, key_v1):
        records = [blacklist(), blacklist(kind="nope")]
        first = submit(member_a, records, key="batch-1")
        second = submit(member_a, records, key="batch-1")
        assert second.status_code == first.status_code == 202
        assert second.json() == first.json()
        assert Batch.objects.count() == 1

    def test_same_key_other_body_is_422(self, member_a, key_v1):
        submit(member_a, [blacklist()], key="batch-1")
        response = submit(member_a, [blacklist()], key="batch-1")
        assert response.status_code == 422
        assert response.json()["code"] == "idempotency_key_reused"
        assert Batch.objects.count() == 1

    def test_same_key_in_flight_is_409(self, member_a, key_v1):
        records = [blacklist()]
        from sharing.records.idempotency import request_hash

        busy = IdempotencyKey.objects.create(
            member=member_a.institution, key="busy", request_hash=request_hash(orjson.dumps({"records": records}))
        )
        with key_held_elsewhere(busy.pk):  # its request is alive, on another connection
            response = submit(member_a, records, key="busy")
        assert response.status_code == 409
        assert response.json()["code"] == "request_in_flight"

    def test_abandoned_in_flight_key_is_taken_over(self, member_a, key_v1):
        records = [blacklist()]
        from sharing.records.idempotency import request_hash

        IdempotencyKey.objects.create(
            member=member_a.institution,
            key="crashed",
            request_hash=request_hash(orjson.dumps({"records": records})),
            locked_at=timezone.now() - dt.timedelta(minutes=10),
        )
        assert submit(member_a, records, key="crashed").status_code == 202

    def test_keys_are_scoped_to_the_member(self, member_a, member_b, key_v1):
        assert submit(member_a, [blacklist()], key="shared").status_code == 202
        assert submit(member_b, [blacklist()], key="shared").status_code == 202
        assert Batch.objects.count() == 2

    def test_a_failed_request_frees_its_key(self, member_a, key_v1, monkeypatch):
        import sharing.records.submission as submission

        def explode(**kwargs):
            raise RuntimeError("database went away")

        monkeypatch.setattr(submission, "_batch_write", explode)
        assert submit(member_a, [blacklist()], key="retry-me").status_code == 500
        monkeypatch.undo()
        assert not IdempotencyKey.objects.filter(key="retry-me").exists()
        assert submit(member_a, [blacklist()], key="retry-me").status_code == 202

    def test_purge_keeps_keys_for_a_day(self, member_a, key_v1):
        from sharing.records.idempotency import idempotency_keys_purge

        submit(member_a, [blacklist()], key="recent")
        IdempotencyKey.objects.create(
            member=member_a.institution, key="old", request_hash="x", created_at=timezone.now() - dt.timedelta(days=3)
        )
        assert idempotency_keys_purge() == 1
        assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["recent"]


def test_resending_a_reference_updates_it_and_keeps_history(member_a, key_v1):
    token = new_token()
    record = overdue([token], reference="LOAN-1", overdue_days=30, overdue_amount="100.00")
    submit(member_a, [record])
    submit(member_a, [{**record, "overdue_days": 60, "overdue_amount": "200.00"}])
    submit(member_a, [{**record, "overdue_days": 60, "overdue_amount": "200.00"}])  # no change: no new version
    submit(member_a, [{**record, "overdue_days": 60, "overdue_amount": "200.00", "resolved_date": days_ago(0)}])
    stored = Record.objects.get(member=member_a.institution, reference="LOAN-1")
    assert (stored.overdue_days, str(stored.overdue_amount), stored.status) == (60, "200.00", "resolved")
    history = list(stored.events.order_by("pgh_id").values_list("overdue_days", "status"))
    assert history == [(60, "active"), (60, "resolved")]
    assert Record.objects.count() == 1


def test_changing_identifiers_replaces_them(member_a, key_v1):
    old, new = new_token(), new_token()
    record = blacklist([old], reference="R-X")
    submit(member_a, [record])
    submit(member_a, [{**record, "identifiers": [{"type": "cn_mobile", "token": new}]}])
    stored = Record.objects.get(reference="R-X")
    assert [(i.id_type, bytes(i.token)) for i in stored.identifiers.all()] == [("cn_mobile", pepper_token(new))]


def test_retracted_reference_cannot_be_resent(member_a, key_v1):
    record = blacklist(reference="GONE")
    submit(member_a, [record])
    member_a.client().post("/api/v1/records/GONE/retract", {"reason": "wrong person"}, format="json")
    body = submit(member_a, [record]).json()
    assert [(e["index"], e["code"]) for e in body["errors"]] == [(0, "record_retracted")]


def test_batch_status_is_visible_to_its_member_only(member_a, member_b, key_v1):
    batch_id = submit(member_a, [blacklist()]).json()["id"]
    response = member_a.client().get(f"/api/v1/batches/{batch_id}")
    assert response.status_code == 200
    assert response.json()["status"] == "received"
    foreign = member_b.client().get(f"/api/v1/batches/{batch_id}")
    missing = member_b.client().get("/api/v1/batches/999999")
    assert foreign.status_code == missing.status_code == 404
    assert foreign.json() == missing.json()


@pytest.mark.parametrize("size", [10, 1000])
def test_query_count_does_not_grow_with_the_batch(member_a, key_v1, django_assert_num_queries, size):
    records = [blacklist() for _ in range(size)]
    # auth, rate limit, idempotency claim, key versions, savepoint, batch insert, upsert, batch counts, dirty tokens,
    # identifiers insert, log leaves insert, audit event (unchained: no lock), idempotency complete.
    with django_assert_num_queries(14):
        response = submit(member_a, records, key=str(uuid.uuid4()))
    assert response.json()["accepted"] == size


class TestBothPaths:
    """A body decoded whole (every record valid) and one checked record by record give the same records."""

    @staticmethod
    def parse(records):
        from sharing.records.contracts import batch_parse

        context = {"today": dt.date.today(), "current_versions": frozenset({1}), "retired_versions": frozenset()}
        return batch_parse(msgspec.json.encode({"records": records}), **context)  # orjson stops at 64 bits

    def test_valid_records_give_identical_results(self):
        records = [
            blacklist(),
            overdue(resolved_date=days_ago(1)),
            overdue(identifiers=[{"type": t, "token": new_token()} for t in ("email", "device_id", "bank_card")]),
            blacklist(category="written_off", kind="delinquency"),
        ]
        whole = self.parse(records)
        # One record that no typed decode accepts sends the whole body down the record-by-record path.
        one_by_one = self.parse([blacklist(kind="fraud"), *records])
        assert whole.errors == [] and [e["index"] for e in one_by_one.errors] == [0]
        assert [r[1:] for r in whole.valid] == [r[1:] for r in one_by_one.valid]

    @pytest.mark.parametrize(
        "record,code",
        [
            (blacklist(category="overdue"), "invalid_choice"),
            (blacklist(overdue_days=3), "not_allowed"),
            (overdue(product=None), "invalid_choice"),
            (blacklist(key_version=2), "unknown_key_version"),
            (blacklist(event_date="2999-01-01"), "future_date"),
            (blacklist(event_date="1989-12-31"), "bad_date"),
            (blacklist(identifiers=[{"type": "cn_mobile", "token": new_token()}] * 2), "duplicate_type"),
            (blacklist(extra=1), "unknown_field"),
            (blacklist(identifiers=[{"type": "cn_mobile", "token": new_token().upper()}]), "bad_token"),
            (blacklist(identifiers=[{"type": "cn_mobile", "token": "g" + new_token()[1:]}]), "bad_token"),
            (blacklist(identifiers=[{"type": "cn_mobile", "token": new_token()[:63]}]), "bad_token"),
            (blacklist(identifiers=[{"type": "cn_mobile", "token": new_token() + "\n"}]), "bad_token"),
            (blacklist(reference="A B"), "bad_format"),
            (blacklist(reference="X" * 65), "bad_format"),
            (blacklist(reference=""), "bad_format"),
            (blacklist(reference="A\n"), "bad_format"),
            (overdue(overdue_amount="1.00\n"), "bad_decimal"),
            (overdue(overdue_days=2**31), "max_value"),
            (overdue(overdue_days=2**63), "max_value"),
            (overdue(overdue_days=10**30), "max_value"),
            (blacklist(resolved_date=None), "invalid_type"),
        ],
    )
    @pytest.mark.parametrize("alone", [True, False], ids=["whole", "one_by_one"])
    def test_an_invalid_record_has_the_same_code_on_both_paths(self, record, code, alone):
        # Alone it is the typed decode's refusal (or a rule) that names it; beside a record of the wrong
        # shape it is checked on its own.
        check = self.parse([blacklist(), record] if alone else [blacklist(kind="fraud"), record])
        assert code in [e["code"] for e in check.errors if e["index"] == 1]
        assert [r.index for r in check.valid] == ([0] if alone else [])


def test_hostile_field_names_are_reported_not_stored_raw(member_a, key_v1):
    response = member_a.client().generic(
        "POST",
        "/api/v1/batches",
        b'{"records": [{"\\u0000evil/x~": 1, "reference": "A"}]}',
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="k-hostile",
    )
    assert response.status_code == 202
    fields = [e["field"] for e in response.json()["errors"]]
    assert "/?evil~1x~0" in fields
    assert Batch.objects.get().errors == response.json()["errors"]


def test_the_stored_identifiers_digest_is_stable(member_a, key_v1):
    """Stored digests decide whether a re-sent record changed: the bytes hashed must never change."""
    import hashlib

    first, second = new_token(), new_token()
    submit(member_a, [blacklist([first, second], reference="DIGEST")])
    stored = Record.objects.get(reference="DIGEST")
    expected = b"cn_mobile\x00" + pepper_token(second) + b"cn_resident_id\x00" + pepper_token(first)
    assert bytes(stored.identifiers_digest) == hashlib.sha256(expected).digest()


def test_a_batch_written_in_several_slices_is_written_whole(member_a, key_v1, monkeypatch):
    """Slices are pipelined: each slice's identifiers go with its own records, updates queue their old tokens."""
    from sharing.records import submission
    from sharing.records.matching import dirty_tokens_pending

    monkeypatch.setattr(submission, "WRITE_SLICE", 2)
    kept, replaced = blacklist(reference="S-1"), blacklist(reference="S-4")
    old_token = replaced["identifiers"][0]["token"]
    gone = blacklist(reference="S-5")
    submit(member_a, [kept, replaced, gone])
    member_a.client().post("/api/v1/records/S-5/retract", {"reason": "wrong person"}, format="json")
    assert dirty_tokens_pending() == 0
    new = [blacklist(reference=f"S-{n}") for n in (2, 3, 6)]
    moved = {**replaced, "identifiers": [{"type": "cn_mobile", "token": new_token()}]}
    # Sorted by reference into slices (S-1 S-2) (S-3 S-4) (S-5 S-6): an unchanged, an updated and a
    # retracted record among new ones.
    body = submit(member_a, [new[2], moved, kept, gone, *new[:2]]).json()
    assert (body["accepted"], body["rejected"]) == (5, 1)
    assert [(e["index"], e["code"]) for e in body["errors"]] == [(3, "record_retracted")]
    identifiers = {
        r.reference: [(i.id_type, bytes(i.token)) for i in r.identifiers.all()]
        for r in Record.objects.filter(member=member_a.institution).prefetch_related("identifiers")
    }
    for record in [*new, moved, kept]:
        assert identifiers[record["reference"]] == [
            (i["type"], pepper_token(i["token"])) for i in record["identifiers"]
        ], record["reference"]
    assert dirty_tokens_pending() == 1
    with connection.cursor() as cursor:
        cursor.execute("SELECT token FROM sharing_dirtytoken")
        assert [bytes(row[0]) for row in cursor.fetchall()] == [pepper_token(old_token)]
    batch = Batch.objects.get(pk=body["id"])
    assert set(Record.objects.filter(batch=batch).values_list("reference", flat=True)) == {"S-2", "S-3", "S-4", "S-6"}
