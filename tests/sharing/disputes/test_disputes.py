"""Disputes through the API and the services: marked at once, settled by operators, corrections pushed out."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.core import mail
from django.db import transaction
from django.utils import timezone

from core.errors import ConflictError, DomainError
from members.audit import Actor
from members.models import AuditEvent
from sharing.disputes.services import dispute_settle, disputes_deadlines_check
from sharing.models import Alert, Dispute, Record
from sharing.records.matching import summaries_drift_check
from tests.conftest import issue
from tests.factories import InstitutionFactory, OperatorFactory
from tests.sharing.conftest import blacklist, lookup, new_token, overdue, reported


def file(member, tokens, id_type="cn_resident_id", **extra):
    body = {
        "identifiers": [{"type": id_type, "token": token} for token in tokens],
        "key_version": 1,
        "reason": "The subject says the loan was taken out in their name by someone else.",
    }
    body.update(extra)
    return member.client().post("/api/v1/disputes", body, format="json")


def operator_actor():
    return Actor.operator(OperatorFactory())


@pytest.fixture
def subject(member_a, member_b, key_v1):
    """member_b reported one subject twice (a blacklist and a delinquency record); member_a files for them."""
    token, mobile = new_token(), new_token()
    reported(member_b, [blacklist([token, mobile], reference="B-1"), overdue([token], reference="B-2")])
    return token, mobile


def test_filing_marks_every_standing_record_at_once_and_lookups_show_it(member_a, member_b, subject):
    token, mobile = subject
    assert lookup(member_a, [token]).json()["results"][0]["disputed"] is False

    response = file(member_a, [token], statement="本人声明：该笔贷款非本人申请。")

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "open" and body["records_disputed"] == 2
    received = timezone.localtime(dt.datetime.fromisoformat(body["received_at"])).date()
    assert body["due_date"] == (received + dt.timedelta(days=20)).isoformat()
    assert set(Record.objects.filter(member_id=member_b.institution.pk).values_list("status", flat=True)) == {
        "disputed"
    }
    # No matching job in between: the mark is visible the moment the dispute is accepted,
    # for the disputed token and for the other token of the same record.
    # The statement is attached to the identifiers the dispute names.
    for checked, id_type, statement in [(token, "cn_resident_id", True), (mobile, "cn_mobile", False)]:
        result = lookup(member_a, [checked], id_type=id_type).json()["results"][0]
        assert result["hit"] is True and result["disputed"] is True and result["statement"] is statement
    event = AuditEvent.objects.get(action="dispute.filed")
    assert event.institution_id == member_a.institution.pk and event.payload["records"] == 2


def test_reporting_member_is_alerted_without_learning_who_filed(member_a, member_b, subject):
    token, _mobile = subject
    dispute_id = file(member_a, [token]).json()["id"]

    alerts = member_b.client().get("/api/v1/alerts").json()["results"]

    assert [alert["kind"] for alert in alerts] == ["dispute_filed"]
    payload = alerts[0]["payload"]
    assert payload["dispute_id"] == dispute_id
    assert sorted(record["reference"] for record in payload["records"]) == ["B-1", "B-2"]
    text = str(alerts).lower()
    assert member_a.institution.name.lower() not in text and member_a.institution.uscc.lower() not in text
    # The filer itself gets nothing yet.
    assert member_a.client().get("/api/v1/alerts").json()["results"] == []


def test_a_named_record_narrows_the_dispute_to_it(member_a, member_b, subject):
    token, _mobile = subject
    record = Record.objects.get(reference="B-2")

    body = file(member_a, [token], record=record.pk).json()

    assert body["records_disputed"] == 1 and body["record"] == record.pk
    assert Record.objects.get(reference="B-1").status == "active"
    assert Record.objects.get(reference="B-2").status == "disputed"


@pytest.mark.parametrize(
    ("extra", "status", "code"),
    [
        ({"reason": ""}, 400, "bad_text"),
        ({"reason": "   "}, 400, "bad_text"),
        ({"reason": "a\u0000b"}, 400, "bad_text"),
        ({"key_version": 9}, 400, "unknown_key_version"),
        ({"key_version": "1"}, 400, "invalid_type"),
        ({"unexpected": 1}, 400, "unknown_field"),
    ],
)
def test_bad_filings_get_a_problem_and_change_nothing(member_a, subject, extra, status, code):
    token, _mobile = subject
    response = file(member_a, [token], **extra)
    assert response.status_code == status, response.content
    if code:
        assert response["Content-Type"].startswith("application/problem+json")
        assert code in str(response.json())
        assert not Dispute.objects.exists()
        assert not Record.objects.filter(status="disputed").exists()


def test_duplicate_identifier_types_are_refused(member_a, subject):
    token, mobile = subject
    response = file(member_a, [token, mobile])  # both as cn_resident_id
    assert response.status_code == 400
    assert "duplicate_type" in str(response.json())


def test_nothing_to_dispute_and_foreign_record_ids(member_a, member_b, subject, key_v1):
    nobody = new_token()
    response = file(member_a, [nobody])
    assert response.status_code == 400 and response.json()["code"] == "nothing_to_dispute"
    # A record id that does not carry the tokens is the same 404 as a missing record.
    unrelated = Record.objects.get(reference="B-1").pk
    token, _mobile = subject
    other = new_token()
    reported(member_b, [blacklist([other], reference="B-9")])
    assert file(member_a, [other], record=unrelated).status_code == 404
    assert file(member_a, [token], record=10**9).status_code == 404
    assert not Dispute.objects.exists()


def test_disputes_need_the_disputes_scope_and_stay_with_the_filer(member_a, member_b, subject):
    token, _mobile = subject
    lookups_only = issue(member_a.institution, scopes=["lookups"])
    assert file(lookups_only, [token]).status_code == 403
    dispute_id = file(member_a, [token]).json()["id"]

    mine = member_a.client().get(f"/api/v1/disputes/{dispute_id}")
    theirs = member_b.client().get(f"/api/v1/disputes/{dispute_id}")
    missing = member_b.client().get(f"/api/v1/disputes/{10**9}")

    assert mine.status_code == 200 and mine.json()["id"] == dispute_id
    assert theirs.status_code == 404 and theirs.json() == missing.json()
    assert [d["id"] for d in member_a.client().get("/api/v1/disputes").json()["results"]] == [dispute_id]
    assert member_b.client().get("/api/v1/disputes").json()["results"] == []


def test_confirmed_lifts_the_mark_keeps_the_statement_and_tells_the_filer(member_a, member_b, subject):
    token, _mobile = subject
    dispute = Dispute.objects.get(pk=file(member_a, [token], statement="我没有借过这笔钱。").json()["id"])

    dispute_settle(actor=operator_actor(), dispute=dispute, outcome="confirmed", note="Contract and ID checked.")

    assert set(Record.objects.values_list("status", flat=True)) == {"active"}
    result = lookup(member_a, [token]).json()["results"][0]
    assert result["hit"] is True and result["disputed"] is False and result["statement"] is True
    seen = member_a.client().get(f"/api/v1/disputes/{dispute.pk}").json()
    assert seen["status"] == "confirmed" and seen["settlement_note"] == "Contract and ID checked."
    resolved = Alert.objects.get(member=member_a.institution, kind="dispute_resolved")
    assert resolved.payload["outcome"] == "confirmed" and resolved.payload["dispute_id"] == dispute.pk
    assert AuditEvent.objects.filter(action="dispute.settled", payload__outcome="confirmed").count() == 1


def test_unverifiable_stays_disputed_until_the_record_ends(member_a, member_b, subject):
    token, _mobile = subject
    dispute = Dispute.objects.get(pk=file(member_a, [token]).json()["id"])

    dispute_settle(actor=operator_actor(), dispute=dispute, outcome="unverifiable", note="Lender cannot produce it.")

    assert lookup(member_a, [token]).json()["results"][0]["disputed"] is True
    # The reporting member resolves both records: the subject no longer appears at all.
    for reference in ["B-1", "B-2"]:
        response = member_b.client().post(
            f"/api/v1/records/{reference}/resolve", {"resolved_date": "2025-12-01"}, format="json"
        )
        assert response.status_code == 200, response.content
    result = lookup(member_a, [token]).json()["results"][0]
    assert result["hit"] is False and result["disputed"] is False


def test_a_record_under_two_disputes_keeps_the_mark_until_both_are_settled(member_a, member_b, subject):
    token, mobile = subject
    first = Dispute.objects.get(pk=file(member_a, [token]).json()["id"])
    second = Dispute.objects.get(pk=file(member_a, [mobile], id_type="cn_mobile").json()["id"])

    dispute_settle(actor=operator_actor(), dispute=first, outcome="confirmed", note="Checked.")
    assert Record.objects.get(reference="B-1").status == "disputed"  # still under the second
    assert Record.objects.get(reference="B-2").status == "active"

    dispute_settle(actor=operator_actor(), dispute=second, outcome="confirmed", note="Checked.")
    assert Record.objects.get(reference="B-1").status == "active"


def test_settling_twice_or_without_a_note_is_refused(member_a, subject):
    token, _mobile = subject
    dispute = Dispute.objects.get(pk=file(member_a, [token]).json()["id"])
    with pytest.raises(DomainError):
        dispute_settle(actor=operator_actor(), dispute=dispute, outcome="confirmed", note=" ")
    with pytest.raises(DomainError):
        dispute_settle(actor=operator_actor(), dispute=dispute, outcome="confirmed", note="x", retract_reason="wrong")
    dispute_settle(actor=operator_actor(), dispute=dispute, outcome="confirmed", note="Checked.")
    with pytest.raises(ConflictError):
        dispute_settle(actor=operator_actor(), dispute=dispute, outcome="corrected", note="Again.")


def test_a_correction_reaches_members_that_relied_on_the_record_in_the_last_12_months(member_a, member_b, subject):
    token, mobile = subject
    member_c = issue(InstitutionFactory(name="Member C"))
    member_d = issue(InstitutionFactory(name="Member D"))
    now = timezone.now()
    with time_machine.travel(now - dt.timedelta(days=60), tick=False):
        recent = lookup(member_c, ["f" * 64, mobile], id_type="cn_mobile").json()["id"]
    with time_machine.travel(now - dt.timedelta(days=400), tick=False):
        lookup(member_d, [token])  # older than the look-back window
    lookup(member_b, [token])  # the reporting member's own lookup: it knows it corrected its record
    dispute = Dispute.objects.get(pk=file(member_a, [token]).json()["id"])
    own_lookup = lookup(member_a, [token]).json()["id"]

    dispute_settle(
        actor=operator_actor(),
        dispute=dispute,
        outcome="corrected",
        note="The lender could not show the contract.",
        retract_reason="Identity theft confirmed by the operator.",
    )

    assert set(Record.objects.values_list("status", flat=True)) == {"retracted"}
    assert lookup(member_a, [token]).json()["results"][0]["hit"] is False
    corrected = {alert.member_id: alert for alert in Alert.objects.filter(kind="record_corrected")}
    assert set(corrected) == {member_c.institution.pk, member_a.institution.pk}
    assert corrected[member_c.institution.pk].payload["lookup_id"] == recent
    # The member's own lookup id and the token exactly as it sent it; nothing about who reported.
    # Stored sealed: the token as sent is not in the database; the member reads it through the API.
    assert mobile not in str(corrected[member_c.institution.pk].payload)
    listed = {alert["id"]: alert for alert in member_c.client().get("/api/v1/alerts").json()["results"]}
    payload = listed[corrected[member_c.institution.pk].pk]["payload"]
    assert payload["identifiers"] == [{"type": "cn_mobile", "token": mobile}]
    assert "identifiers_sealed" not in payload
    assert corrected[member_a.institution.pk].payload["lookup_id"] == own_lookup
    assert "member" not in str(corrected[member_c.institution.pk].payload)
    assert AuditEvent.objects.filter(action="record.retracted", actor_type="operator").count() == 2
    settled = AuditEvent.objects.get(action="dispute.settled")
    assert settled.payload["retracted"] == 2 and settled.payload["inquirer_alerts"] == 2


def test_a_correction_does_not_reach_a_lookup_that_missed_the_token(member_a, member_b, key_v1):
    """A miss relied on no record: asked before the record was reported, that lookup is not told."""
    token = new_token()
    member_c = issue(InstitutionFactory(name="Member C"))
    before = lookup(member_c, [token]).json()
    assert before["results"][0]["hit"] is False
    reported(member_b, [blacklist([token], reference="B-9")])
    after = lookup(member_c, [token]).json()["id"]
    dispute = Dispute.objects.get(pk=file(member_a, [token]).json()["id"])

    dispute_settle(
        actor=operator_actor(), dispute=dispute, outcome="corrected", note="Wrong person.", retract_reason="Not them."
    )

    corrected = Alert.objects.filter(kind="record_corrected", member=member_c.institution)
    assert [alert.payload["lookup_id"] for alert in corrected] == [after]


def test_corrected_by_the_reporting_member_through_the_api(member_a, member_b, subject):
    token, _mobile = subject
    dispute = Dispute.objects.get(pk=file(member_a, [token]).json()["id"])
    for reference in ["B-1", "B-2"]:
        member_b.client().post(f"/api/v1/records/{reference}/retract", {"reason": "Our error."}, format="json")

    dispute_settle(actor=operator_actor(), dispute=dispute, outcome="corrected", note="Member retracted both.")

    assert set(Record.objects.values_list("status", flat=True)) == {"retracted"}
    assert Alert.objects.filter(member=member_a.institution, kind="dispute_resolved").exists()


def test_deadline_notices_are_raised_once_from_day_15_and_after_day_20(
    member_a, subject, django_capture_on_commit_callbacks
):
    token, _mobile = subject
    OperatorFactory(email="desk@example.com", groups=["dispute_handler"])
    OperatorFactory(email="other@example.com", groups=["reviewer"])
    received = dt.date(2026, 3, 2)
    with time_machine.travel(dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC), tick=False):
        dispute = Dispute.objects.get(pk=file(member_a, [token]).json()["id"])
    assert dispute.due_date == received + dt.timedelta(days=20)

    def day(n):
        with django_capture_on_commit_callbacks(execute=True):
            return disputes_deadlines_check(today=received + dt.timedelta(days=n))

    assert day(14).due_soon == [] and mail.outbox == []
    assert day(15).due_soon == [dispute.pk]
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["desk@example.com"]
    assert day(16).due_soon == []  # raised once
    assert day(20).overdue == []  # the due date itself is still in time
    assert day(21).overdue == [dispute.pk]
    assert day(22).overdue == []
    assert len(mail.outbox) == 2
    assert list(
        AuditEvent.objects.filter(action__in=["dispute.due_soon", "dispute.overdue"])
        .values_list("action", flat=True)
        .order_by("seq", "id")
    ) == ["dispute.due_soon", "dispute.overdue"]


def test_settled_disputes_raise_no_deadline_notice(member_a, subject):
    token, _mobile = subject
    dispute = Dispute.objects.get(pk=file(member_a, [token]).json()["id"])
    dispute_settle(actor=operator_actor(), dispute=dispute, outcome="confirmed", note="Checked.")
    notices = disputes_deadlines_check(today=dispute.due_date + dt.timedelta(days=5))
    assert notices.overdue == [] and notices.due_soon == []


def test_a_member_files_a_limited_number_of_disputes_a_day(member_a, member_b, key_v1, settings):
    settings.RISKSHARE_DISPUTES_PER_DAY = 2
    tokens = [new_token() for _ in range(3)]
    reported(member_b, [blacklist([token]) for token in tokens])
    assert [file(member_a, [token]).status_code for token in tokens[:2]] == [201, 201]

    refused = file(member_a, [tokens[2]])

    assert refused.status_code == 429 and int(refused["Retry-After"]) >= 1
    assert refused["Content-Type"].startswith("application/problem+json")
    assert Dispute.objects.count() == 2 and Record.objects.filter(status="disputed").count() == 2
    # The limit is per member: another member still files.
    assert file(member_b, [tokens[2]]).status_code == 201


def test_summaries_match_the_records_after_disputes_and_settlements(member_a, member_b, subject):
    token, mobile = subject
    other = new_token()
    reported(member_a, [overdue([other, mobile], reference="A-1")])
    first = Dispute.objects.get(pk=file(member_a, [token], statement="声明").json()["id"])
    second = Dispute.objects.get(pk=file(member_b, [other]).json()["id"])
    dispute_settle(actor=operator_actor(), dispute=first, outcome="unverifiable", note="Cannot tell.")
    dispute_settle(actor=operator_actor(), dispute=second, outcome="corrected", note="x", retract_reason="Wrong.")

    report = summaries_drift_check(fix=False)

    assert report.checked > 0 and report.drift == 0


@pytest.mark.django_db(transaction=True)
def test_a_dispute_filed_while_a_batch_rewrites_the_same_records_waits_instead_of_deadlocking(
    member_a, member_b, key_v1
):
    """A batch locks a member's records in reference order; filing must take them in the same order.

    B-2 is reported before B-1, so id order and reference order disagree. The batch side (reference
    order, as _batch_write's upsert) holds B-1 while the filing starts, then takes B-2.
    """
    import threading
    import time

    from django.db import connection, connections

    token = new_token()
    reported(member_b, [blacklist([token], reference="B-2")])
    reported(member_b, [overdue([token], reference="B-1")])
    holding, outcome = threading.Event(), {}

    def batch_side():
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                lock = "SELECT id FROM sharing_record WHERE member_id = %s AND reference = %s FOR UPDATE"
                cursor.execute(lock, [member_b.institution.pk, "B-1"])
                holding.set()
                time.sleep(0.5)  # the filing is now waiting on a record lock
                cursor.execute(lock, [member_b.institution.pk, "B-2"])
            outcome["batch"] = "committed"
        except Exception as exc:  # the deadlock, reported by the assertion below
            outcome["batch"] = repr(exc)
        finally:
            connections.close_all()

    def filing_side():
        holding.wait()
        try:
            outcome["filing"] = file(member_a, [token]).status_code
        finally:
            connections.close_all()

    threads = [threading.Thread(target=batch_side), threading.Thread(target=filing_side)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert outcome == {"batch": "committed", "filing": 201}
    assert set(Record.objects.values_list("status", flat=True)) == {"disputed"}
