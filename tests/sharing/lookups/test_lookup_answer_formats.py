"""Stored lookup answers: one format; migration 0013 rewrote the earlier ones into it, reading the same."""

from __future__ import annotations

import importlib
import zlib

import orjson
import pgtrigger
import pytest
from django.apps import apps

from sharing.lookups.services import answer_unpack
from sharing.models import Lookup
from sharing.tokens.sealing import answer_open, answer_seal
from tests.sharing.conftest import blacklist, lookup, new_token, overdue, reported

migration = importlib.import_module("sharing.migrations.0013_lookup_answers_one_format")


def stored_as(template: Lookup, answer: bytes | None = None, *, seal_with_own_id: bool = False) -> Lookup:
    """A copy of a logged lookup whose stored answer is ``answer``, written as an earlier release did."""
    row = Lookup.objects.create(
        member_id=template.member_id,
        credential_id=template.credential_id,
        purpose=template.purpose,
        consent_reference=template.consent_reference,
        key_version=template.key_version,
        identifiers=template.identifiers,
        hits=template.hits,
        answer=b"",
    )
    if seal_with_own_id:  # as migration 0012 left an answer it found unsealed
        answer = answer_seal(answer, lookup_id=row.pk)
    with pgtrigger.ignore("sharing.Lookup:append_only"):
        Lookup.objects.filter(pk=row.pk).update(answer=answer)
    return row


def earlier_formats(results: list[dict], current_packed: bytes) -> dict[str, bytes]:
    """The same results as each earlier release packed them, before sealing."""

    def summary(result):
        if not result["hit"]:
            return []
        blacklist, delinquency = result["blacklist"], result["delinquency"]
        return [
            result["reporting_members"],
            result["reported_by_you"],
            blacklist["categories"],
            blacklist["last_reported"],
            delinquency["active_records"],
            delinquency["max_overdue_days"],
            delinquency["total_overdue_amount"],
            delinquency["latest_event_date"],
            result["disputed"],
            result["statement"],
        ]

    def token_second(result):
        inquiries = result["inquiries"]
        return [result["type"], result["token"], inquiries["members_30d"], inquiries["members_90d"], *summary(result)]

    return {
        "result dicts": zlib.compress(orjson.dumps(results)),
        "hit dicts, miss rows": zlib.compress(
            orjson.dumps([result if result["hit"] else token_second(result) for result in results])
        ),
        "rows with the token second": zlib.compress(orjson.dumps([token_second(result) for result in results])),
        "current rows, unsealed": current_packed,
    }


@pytest.fixture
def answered(member_a, member_b, key_v1):
    """A lookup answered today: a blacklist hit, a delinquency hit asked by another lender, a miss."""
    listed, late, unknown = new_token(), new_token(), new_token()
    reported(member_b, [blacklist([listed]), overdue([late])])
    lookup(member_b, [late])
    answer = lookup(member_a, [listed, late, unknown]).json()
    assert [result["hit"] for result in answer["results"]] == [True, True, False]
    assert answer["results"][1]["inquiries"]["members_30d"] == 1
    return Lookup.objects.get(pk=answer["id"]), answer["results"]


@pytest.mark.parametrize("sealed", [False, True], ids=["unsealed", "sealed by 0012"])
@pytest.mark.parametrize(
    "earlier", ["result dicts", "hit dicts, miss rows", "rows with the token second", "current rows, unsealed"]
)
def test_an_answer_stored_in_an_earlier_format_reads_the_same_after_the_migration(member_a, answered, earlier, sealed):
    logged, results = answered
    packed = earlier_formats(results, answer_open(bytes(logged.answer), lookup_id=logged.pk))[earlier]
    old = stored_as(logged, packed, seal_with_own_id=sealed)

    migration.answers_to_one_format(apps, None)

    old.refresh_from_db()
    assert answer_unpack(old.answer, lookup_id=old.pk) == results
    assert member_a.client().get(f"/api/v1/lookups/{old.pk}").json()["results"] == results
    assert all(token.encode() not in bytes(old.answer) for token in (r["token"] for r in results))


def test_the_migration_leaves_answers_already_in_the_format_as_they_are(answered):
    logged, results = answered
    before = bytes(logged.answer)
    migration.answers_to_one_format(apps, None)
    logged.refresh_from_db()
    assert bytes(logged.answer) == before
    assert answer_unpack(logged.answer, lookup_id=logged.pk) == results


def test_an_answer_in_no_known_format_is_refused_not_guessed(answered):
    logged, _results = answered
    unsealed = stored_as(logged, answer_open(bytes(logged.answer), lookup_id=logged.pk))
    with pytest.raises(ValueError, match="not sealed"):
        answer_unpack(unsealed.answer, lookup_id=unsealed.pk)
