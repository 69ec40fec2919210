"""Relief (展期、延期还款、债务重组): reported on loans and delinquencies, summed per token, answered by lookups."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest

from members.audit import Actor
from sharing.models import LogLeaf, Record, TokenSummary
from sharing.records.matching import summaries_drift_check
from sharing.records.services import record_resolve
from sharing.tlog import leaf
from sharing.tlog.services import log_sequence
from sharing.tokens.pepper import pepper_token
from tests.conftest import issue
from tests.factories import InstitutionFactory
from tests.sharing.conftest import blacklist, days_ago, loan, lookup, new_token, overdue, reported, submit

TODAY = dt.date.today()


def summary(token: str) -> TokenSummary:
    return TokenSummary.objects.get(token=pepper_token(token))


def deferral(tokens=None, **overrides):
    return overdue(tokens, **{"relief": "deferral", "relief_start": "2025-08-01", **overrides})


def extension(tokens=None, **overrides):
    fields = {"maturity_date": "2026-06-09", "relief": "extension", "relief_start": "2025-09-01"}
    fields["new_maturity_date"] = "2027-06-09"
    return loan(tokens, **{**fields, **overrides})


# --- the contract --------------------------------------------------------------------------------


def test_relief_is_stored_on_a_loan_and_a_delinquency(member_a, key_v1):
    body = submit(member_a, [extension(reference="L1"), deferral(reference="D1")]).json()
    assert (body["accepted"], body["errors"]) == (2, [])
    line = Record.objects.get(reference="L1")
    assert (line.relief, line.relief_start, line.relief_end) == ("extension", dt.date(2025, 9, 1), None)
    assert line.new_maturity_date == dt.date(2027, 6, 9)
    debt = Record.objects.get(reference="D1")
    assert (debt.relief, debt.relief_start, debt.new_maturity_date) == ("deferral", dt.date(2025, 8, 1), None)
    # On a written-off delinquency too (a restructured written-off debt).
    restructured = overdue(category="written_off", relief="restructuring", relief_start="2025-07-01")
    for field in ("overdue_days", "overdue_amount", "currency", "product"):
        del restructured[field]
    assert submit(member_a, [restructured]).json()["errors"] == []


@pytest.mark.parametrize(
    ("record", "field", "code"),
    [
        (blacklist(relief="deferral", relief_start="2025-03-02"), "/relief", "not_allowed"),
        (blacklist(relief_start="2025-03-02"), "/relief_start", "not_allowed"),
        (blacklist(new_maturity_date="2030-01-01"), "/new_maturity_date", "not_allowed"),
        (overdue(relief="forgiveness", relief_start="2025-08-01"), "/relief", "invalid_choice"),
        (overdue(relief="deferral"), "/relief_start", "required"),
        (overdue(relief_start="2025-08-01"), "/relief", "required"),
        (overdue(relief_end="2025-08-01"), "/relief", "required"),
        (deferral(relief_start="2025-06-09"), "/relief_start", "relief_order"),
        (deferral(relief_start=(TODAY + dt.timedelta(days=1)).isoformat()), "/relief_start", "future_date"),
        (deferral(relief_start="2025-02-30"), "/relief_start", "bad_date"),
        (deferral(relief_end="2025-07-31"), "/relief_end", "relief_order"),
        (deferral(relief_end=(TODAY + dt.timedelta(days=1)).isoformat()), "/relief_end", "future_date"),
        (deferral(new_maturity_date="2027-01-01"), "/new_maturity_date", "extension_only"),
        (extension(new_maturity_date=None), "/new_maturity_date", "invalid_type"),
        ({k: v for k, v in extension().items() if k != "new_maturity_date"}, "/new_maturity_date", "required"),
        (extension(new_maturity_date="2025-08-01"), "/new_maturity_date", "relief_order"),
        (extension(new_maturity_date="2026-06-09"), "/new_maturity_date", "relief_order"),  # not past the old one
        (deferral(relief_start=20250801), "/relief_start", "invalid_type"),
    ],
)
def test_each_relief_rule_has_a_stable_code(member_a, key_v1, record, field, code):
    body = submit(member_a, [record, blacklist()]).json()
    assert body["rejected"] == 1 and body["accepted"] == 1  # the valid one is still stored
    assert (field, code) in [(e["field"], e["code"]) for e in body["errors"]], body["errors"]
    assert not Record.objects.exclude(relief="").exists()


def test_relief_is_part_of_the_records_history_and_its_log_leaf(member_a, key_v1):
    token = new_token()
    reported(member_a, [overdue([token], reference="D1")])
    sent = deferral([token], reference="D1")
    reported(member_a, [sent])
    record = Record.objects.get(reference="D1")
    # The row history keeps each version the update made (pghistory), relief included.
    assert [(event.relief, event.relief_start) for event in record.events.order_by("pgh_id")] == [
        ("deferral", dt.date(2025, 8, 1))
    ]
    # The update's leaf commits to the record as sent, relief fields included; the member recomputes it.
    log_sequence()
    updated = LogLeaf.objects.filter(record_id=record.pk).order_by("index").last()
    assert updated.kind == leaf.UPDATED
    canonical = dict(sent)
    canonical["identifiers"] = [{"token": i["token"], "type": i["type"]} for i in sent["identifiers"]]
    salt = bytes(record.log_salt)
    assert bytes(updated.record_digest) == hashlib.sha256(salt + leaf.canonical_json(canonical)).digest()
    assert b'"relief":"deferral"' in leaf.canonical_json(canonical)


# --- the summary and the answer ------------------------------------------------------------------


def test_lookups_count_lenders_in_relief_and_since_when_never_which(member_a, member_b, key_v1):
    token, other = new_token(), new_token()
    member_c = issue(InstitutionFactory(name="Member C"))
    reported(member_b, [extension([token], reference="B1"), deferral([token], reference="B2")])
    reported(
        member_c,
        [deferral([token], reference="C1", relief_start="2025-07-15"), overdue([token], event_date="2025-05-01")],
    )
    reported(member_c, [overdue([other], reference="C9")])
    s = summary(token)
    assert sorted(s.relief_member_ids) == sorted([member_b.institution.pk, member_c.institution.pk])
    assert (s.relief_since, s.relief_kinds, s.relief_delinquencies) == (
        dt.date(2025, 7, 15),
        ["deferral", "extension"],
        2,
    )
    assert summaries_drift_check(fix=False).drift == 0

    result, plain = lookup(member_a, [token, other]).json()["results"]
    assert result["delinquency"]["active_records"] == 3
    assert result["delinquency"]["under_relief"] == 2
    assert result["exposure"]["relief"] == {
        "lenders": 2,
        "since": "2025-07-15",
        "kinds": ["deferral", "extension"],
        "yours": False,
    }
    text = str(result)
    for member in (member_b, member_c):
        assert member.institution.name not in text and member.institution.uscc not in text
    # No relief, no loan: no exposure block at all.
    assert plain["exposure"] is None and plain["delinquency"]["under_relief"] == 0
    # The member in relief with the person sees its own arrangement counted, and shown as its own.
    assert lookup(member_b, [token]).json()["results"][0]["exposure"]["relief"]["yours"] is True


def test_relief_on_a_delinquency_alone_opens_the_exposure_block(member_a, member_b, key_v1):
    token = new_token()
    reported(member_b, [deferral([token])])
    exposure = lookup(member_a, [token]).json()["results"][0]["exposure"]
    assert exposure["open_loans"] == 0 and exposure["lenders"] == 0 and exposure["stale_loans"] == 0
    assert exposure["relief"]["lenders"] == 1 and exposure["relief"]["kinds"] == ["deferral"]


def test_relief_ends_with_its_end_date_or_when_the_loan_closes(member_a, member_b, key_v1):
    token = new_token()
    reported(member_b, [extension([token], reference="B1"), deferral([token], reference="B2")])
    assert len(summary(token).relief_member_ids) == 1
    reported(member_b, [deferral([token], reference="B2", relief_end=days_ago(1))])
    s = summary(token)
    assert (s.relief_delinquencies, s.relief_kinds) == (None, ["extension"])
    record_resolve(
        actor=Actor.credential(member_b.credential), record=Record.objects.get(reference="B1"), resolved_date=TODAY
    )
    s = summary(token)
    assert (s.relief_member_ids, s.relief_since, s.relief_kinds) == (None, None, None)  # none stored as NULL
    assert lookup(member_a, [token]).json()["results"][0]["exposure"] is None
    assert Record.objects.get(reference="B2").relief_end == dt.date.fromisoformat(days_ago(1))
    assert summaries_drift_check(fix=False).drift == 0


def test_the_drift_check_sees_a_wrong_relief_count(member_a, key_v1):
    token = new_token()
    reported(member_a, [deferral([token])])
    TokenSummary.objects.filter(token=pepper_token(token)).update(relief_member_ids=None, relief_delinquencies=None)
    assert summaries_drift_check(fix=True).stale == 1
    assert summary(token).relief_delinquencies == 1
    assert summaries_drift_check(fix=False).drift == 0
