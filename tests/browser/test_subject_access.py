"""本人查询 in a real browser: an operator checks the person's identity, issues the report, files the objection."""

from __future__ import annotations

from pathlib import Path

from django.db import connections

from tests.browser.test_operator_desk import PASSWORD, browser_page, pytestmark, shot  # noqa: F401
from tests.sharing.subjects.conftest import PERSON_ID, seeded  # noqa: F401


def test_an_operator_hands_a_person_their_report_and_files_their_objection(browser_page, live_server, seeded):  # noqa: F811
    try:
        walk(browser_page, live_server.url, seeded)
    finally:
        connections.close_all()


def _identify(page) -> None:
    page.select_option("#id_document_type", "resident_id_card")
    page.fill("#id_check_reference", "窗口-0042")
    page.fill("#id_cn_resident_id", PERSON_ID)


def walk(page, base, seeded):  # noqa: F811
    from sharing.models import Dispute
    from tests.factories import OperatorFactory

    OperatorFactory(username="查询窗口", groups=["subject_access"])
    page.goto(f"{base}/admin/")
    page.fill("#id_username", "查询窗口")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.goto(f"{base}/admin/sharing/subjectreport/")
    page.click('.object-tools a[href$="/desk/"]')
    page.wait_for_selector("#subject-access")
    _identify(page)
    page.click("#issue-report")
    page.wait_for_selector("#report-issued")
    text = page.content()
    assert "已出具" in text and "免费报告" in text and PERSON_ID not in text
    assert seeded.names["a"] in text and seeded.names["b"] in text
    with page.expect_download() as pdf:
        page.click("#report-pdf")
    assert Path(pdf.value.path()).read_bytes()[:5] == b"%PDF-"
    shot(page, "20-subject-report")

    number = page.locator("#report-records tbody tr").first.locator("td").first.inner_text()
    _identify(page)
    page.fill("#id_record_numbers", number)
    page.fill("#id_objection_reason", "本人从未在该机构办理业务。")
    page.click("#file-objection")
    page.wait_for_selector("#disputes-filed")
    dispute = Dispute.objects.exclude(filed_by="").get(record_id=int(number))
    assert str(dispute.pk) in page.inner_text("#disputes-filed")
    shot(page, "21-subject-objection")
