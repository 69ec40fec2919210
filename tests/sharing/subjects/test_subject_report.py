"""The person's own report (本人查询): what a seeded history shows, signed, printable, limited, and leaving no trace."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from core.errors import DomainError
from members.audit import Actor
from members.models import AuditEvent
from sharing.common.signing import public_key_pem
from sharing.models import Alert, Dispute, Record
from sharing.subjects.identify import subject_identify
from sharing.subjects.pdf import report_font
from sharing.subjects.services import subject_objection_file, subject_report_issue
from sharing.subjects.verify import subject_report_verify
from tests.factories import OperatorFactory
from tests.sharing.conftest import lookup
from tests.sharing.subjects.conftest import PERSON_ID, PERSON_MOBILE

DESK = {"document_type": "resident_id_card", "check_reference": "DESK-0042"}


def _issue(operator, identifiers=((("cn_resident_id", PERSON_ID)),), **kwargs):
    return subject_report_issue(
        actor=Actor.operator(operator), identifiers=subject_identify(list(identifiers)), **{**DESK, **kwargs}
    )


def test_the_report_lists_everything_held_about_the_person_and_nothing_else(seeded):
    issued = _issue(OperatorFactory(groups=["subject_access"]))
    ok, found = subject_report_verify(issued.document, public_key_pem())
    assert ok, found
    report = json.loads(issued.document)["report"]
    [shown] = report["identifiers"]
    assert (shown["type"], shown["masked"]) == ("cn_resident_id", PERSON_ID[:6] + "*" * 8 + PERSON_ID[-4:])
    records = {(r["institution"], r["category"], r["status"]) for r in report["records"]}
    assert records == {
        (seeded.names["a"], "fraud_ring", "active"),
        (seeded.names["b"], "overdue", "active"),
        (seeded.names["a"], "overdue", "active"),  # the dispute was confirmed: the record stands
    }
    [loan] = report["loans"]
    assert (loan["institution"], loan["credit_limit"], loan["outstanding_balance"]) == (
        seeded.names["b"],
        "50000.00",
        "20000.00",
    )
    # The extension agreed on the loan, as the person reads it; the records without relief say none.
    assert (loan["relief"], loan["relief_label"], loan["relief_start"], loan["relief_end"]) == (
        "extension",
        "展期",
        "2026-03-01",
        None,
    )
    assert loan["new_maturity_date"] == "2026-12-10"
    assert {r["relief"] for r in report["records"]} == {""}
    inquiries = sorted((r["institution"], r["purpose"]) for r in report["inquiries"])
    assert inquiries == sorted(
        [
            (seeded.names["a"], "credit_application"),
            (seeded.names["b"], "post_loan_monitoring"),
            (seeded.names["c"], "account_opening"),
            (seeded.names["b"], "post_loan_watch"),
        ]
    )
    labels = {r["purpose"]: r["purpose_label"] for r in report["inquiries"]}
    assert "贷后" in labels["post_loan_monitoring"] and "贷后" in labels["post_loan_watch"]
    assert [w["institution"] for w in report["watchers"]] == [seeded.names["b"]]
    [dispute] = report["disputes"]
    assert (dispute["number"], dispute["status"]) == (seeded.dispute_id, "confirmed")
    assert "20" in report["objection"]
    # Nothing about the other person: their member's name appears only for the lookup of the person's mobile.
    other_record = Record.objects.get(reference="C-1")
    assert other_record.pk not in {r["number"] for r in report["records"]}
    assert sum(1 for r in report["inquiries"] if r["institution"] == seeded.names["c"]) == 1


def test_the_mobile_number_too_finds_the_person(seeded):
    issued = _issue(OperatorFactory(), identifiers=[("cn_mobile", PERSON_MOBILE)])
    report = json.loads(issued.document)["report"]
    assert report["identifiers"][0]["masked"] == "139****5678"
    assert [r["category"] for r in report["records"]] == ["overdue"]


def test_a_changed_report_fails_verification(seeded):
    issued = _issue(OperatorFactory())
    envelope = json.loads(issued.document)
    envelope["report"]["records"] = []
    ok, found = subject_report_verify(json.dumps(envelope).encode(), public_key_pem())
    assert not ok and "changed" in found


def test_two_free_reports_a_year_then_only_with_a_reason_and_never_a_multi_lending_inquiry(seeded, member_a):
    operator = OperatorFactory()
    before = lookup(member_a, [seeded.person], key_version=2).json()["results"][0]["inquiries"]
    assert _issue(operator).report.free
    # The second under another identifier of the same person still counts.
    assert _issue(operator, identifiers=[("cn_mobile", PERSON_MOBILE), ("cn_resident_id", PERSON_ID)]).report.free
    with pytest.raises(DomainError) as refused:
        _issue(operator)
    assert refused.value.code == "free_reports_used"
    third = _issue(operator, extra_reason="The person needs it for a court hearing.")
    assert not third.report.free
    report = json.loads(third.document)["report"]
    own = [r for r in report["inquiries"] if r["purpose"] == "subject_own"]
    assert len(own) == 2 and all(r["purpose_label"] == "本人查询" for r in own)
    after = lookup(member_a, [seeded.person], key_version=2).json()["results"][0]["inquiries"]
    assert after == before
    events = AuditEvent.objects.filter(action="subject.report_issued")
    assert events.count() == 3
    assert [e.payload["free"] for e in events.order_by("pk")] == [True, True, False]


def test_invalid_identifiers_and_no_v2_key_are_refused_clearly(db, key_v1):
    with pytest.raises(DomainError) as no_key:
        subject_identify([("cn_resident_id", PERSON_ID)])
    assert no_key.value.code == "no_v2_key"


def test_an_invalid_identifier_is_refused(key_v2):
    with pytest.raises(DomainError) as invalid:
        subject_identify([("cn_resident_id", PERSON_ID[:-1] + ("1" if PERSON_ID[-1] != "1" else "2"))])
    assert invalid.value.code == "invalid_identifier"


def test_an_objection_becomes_a_dispute_filed_by_the_platform(seeded):
    operator = OperatorFactory()
    report = json.loads(_issue(operator).document)["report"]
    fraud = next(r["number"] for r in report["records"] if r["category"] == "fraud_ring")
    disputes = subject_objection_file(
        actor=Actor.operator(operator),
        identifiers=subject_identify([("cn_resident_id", PERSON_ID)]),
        record_numbers=[fraud],
        reason="The person never applied to this lender.",
        statement="本人从未申请该笔贷款。",
    )
    [dispute] = disputes
    assert dispute.member_id is None and dispute.filed_by and dispute.status == Dispute.Status.OPEN
    assert Record.objects.get(pk=fraud).status == "disputed"
    alert = Alert.objects.get(kind="dispute_filed", payload__dispute_id=dispute.pk)
    assert alert.member_id == Record.objects.get(pk=fraud).member_id
    # A record of somebody else cannot be objected to from this person's report.
    with pytest.raises(DomainError):
        subject_objection_file(
            actor=Actor.operator(operator),
            identifiers=subject_identify([("cn_resident_id", PERSON_ID)]),
            record_numbers=[Record.objects.get(reference="C-1").pk],
            reason="x",
        )


def test_the_pdf_is_in_chinese(seeded, tmp_path):
    try:
        report_font()
    except DomainError as missing:
        pytest.skip(f"no Chinese font on this machine: {missing.message}")
    tools = {name: shutil.which(name) for name in ("pdftotext", "pdffonts", "pdftoppm")}
    if not all(tools.values()):
        pytest.skip("poppler-utils (pdftoppm, pdftotext, pdffonts) is not installed: apt-get install poppler-utils")
    issued = _issue(OperatorFactory())
    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(issued.pdf)
    text = subprocess.run(  # noqa: S603 - poppler on a file this test wrote
        [tools["pdftotext"], "-layout", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert "个人信息报告" in text and "本人查询" in text
    assert seeded.names["a"] in text and "贷后" in text and "异议" in text
    assert "展期" in text and "2026-12-10" in text  # the loan's extension and its new maturity date
    fonts = subprocess.run([tools["pdffonts"], str(pdf)], capture_output=True, text=True, check=True).stdout  # noqa: S603
    assert "CJK" in fonts and " yes " in fonts  # the Chinese font is embedded, not left to the reader
    page = tmp_path / "page"
    subprocess.run([tools["pdftoppm"], "-png", "-r", "60", "-f", "1", "-l", "1", str(pdf), str(page)], check=True)  # noqa: S603
    [image] = list(tmp_path.glob("page*.png"))
    assert image.stat().st_size > 5_000


def test_without_a_chinese_font_the_json_is_issued_and_the_pdf_says_what_to_install(seeded, settings):
    settings.RISKSHARE_REPORT_FONT = "/nonexistent/NotoSansCJK-Regular.ttc#2"
    issued = _issue(OperatorFactory())
    assert issued.pdf is None and "fonts-noto-cjk" in issued.pdf_problem
    assert subject_report_verify(issued.document, public_key_pem())[0]
