"""The operators' desk in a real browser: Chromium from the system packages, headless, zh-CN, 1366 px wide.

Screenshots go to var/browser/ (CI keeps them as artefacts). Skips where no Chromium is installed.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connections

CHROMIUM = "/usr/bin/chromium"
SHOTS = Path(settings.BASE_DIR) / "var" / "browser"
PASSWORD = "correct horse battery staple"

playwright_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
pytestmark = [
    pytest.mark.skipif(
        not (Path(CHROMIUM).exists() or shutil.which("chromium")),
        reason=f"no Chromium at {CHROMIUM}: install the system package (apt-get install chromium) to run this test",
    ),
    pytest.mark.django_db(transaction=True),
]


@pytest.fixture
def browser_page(live_server):
    # Playwright's sync API runs an event loop in this thread; the ORM calls of this test are still synchronous.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    SHOTS.mkdir(parents=True, exist_ok=True)
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium"),
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        context = browser.new_context(locale="zh-CN", viewport={"width": 1366, "height": 900})
        page = context.new_page()
        page.set_default_timeout(15_000)
        yield page
        context.close()
        browser.close()
    os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)


def shot(page, name: str) -> None:
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_an_operator_walks_the_desk(browser_page, live_server, member_a, member_b, key_v1):
    try:
        walk(browser_page, live_server.url, member_a, member_b)
    finally:
        # The test body runs in Playwright's greenlet, whose context has a database connection of its
        # own: closed here, or the test database cannot be dropped at the end of the session.
        connections.close_all()


def walk(page, base, member_a, member_b):
    from members.models import Credential
    from sharing.models import Dispute
    from tests.factories import OperatorFactory
    from tests.sharing.conftest import blacklist, lookup, new_token, reported
    from tests.sharing.disputes.test_disputes import file

    token = new_token()
    reported(member_b, [blacklist([token], reference="B-COMPLAINT")])
    assert lookup(member_a, [token]).status_code == 200
    filed = file(member_a, [token], statement="本人从未在该机构借款。")
    assert filed.status_code == 201, filed.content.decode()
    dispute = Dispute.objects.get()
    OperatorFactory(username="值班员", groups=["reviewer", "credential_admin", "dispute_handler", "auditor"])

    # Sign in, in Chinese.
    page.goto(f"{base}/admin/")
    page.fill("#id_username", "值班员")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_selector("#dashboard")
    assert "待处理事项" in page.content() and "每日报送记录数" in page.content()
    shot(page, "01-dashboard")

    # Issue a credential, then reload the page that shows the key: still one credential.
    page.goto(f"{base}/admin/members/credential/add/")
    page.click(".select2-selection")
    page.fill(".select2-search__field", member_b.institution.name)
    page.click(f".select2-results__option:has-text('{member_b.institution.name}')")
    page.fill("#id_name", "贷前审批")
    page.check("input[name=scopes][value=lookups]")
    shot(page, "02-credential-form")
    page.click("input[name=_save]")
    page.wait_for_selector("#issued-key")
    key = page.inner_text("#issued-key").strip()
    assert key.startswith("rsk_")
    shot(page, "03-credential-issued")
    page.reload()
    page.wait_for_load_state()
    shot(page, "04-credential-page-reloaded")
    assert key not in page.content()
    assert Credential.objects.filter(institution=member_b.institution, name="贷前审批").count() == 1

    # Settle the dispute from its own page.
    page.goto(f"{base}/admin/sharing/dispute/{dispute.pk}/change/")
    shot(page, "05-dispute")
    page.click("#settle-link")
    page.wait_for_selector("#settle-form")
    assert "本人从未在该机构借款。" in page.content()
    page.select_option("#id_outcome", "confirmed")
    page.fill("#id_note", "报送机构提供了借款合同，记录属实。")
    shot(page, "06-settle-form")
    page.click("#settle-form input[type=submit]")
    page.wait_for_selector(".messagelist")
    assert "已处理" in page.inner_text(".messagelist")
    shot(page, "07-dispute-settled")
    dispute.refresh_from_db()
    assert dispute.status == "confirmed"

    # Who looked this person up?
    page.goto(f"{base}/admin/sharing/lookup/subject/")
    page.select_option("#id_id_type", "cn_resident_id")
    page.fill("#id_token", token)
    page.click("#subject-search input[type=submit]")
    page.wait_for_selector("#findings")
    findings = page.inner_text("#findings")
    assert "B-COMPLAINT" in findings and member_a.institution.name in findings and token not in page.content()
    shot(page, "08-subject-search")

    # Lists stay usable at 1366 px: no column cut off (the results table needs no horizontal scroll).
    from members.audit import Actor
    from sharing.reports.services import previous_month, report_generate

    start, end = previous_month()
    report_generate(member=member_a.institution, period_start=start, period_end=end, actor=Actor.system("tests"))
    lists = [
        ("09-credentials", "members/credential/"),
        ("10-audit", "members/auditevent/"),
        ("11-reports", "sharing/report/"),
        ("12-lookups", "sharing/lookup/"),
        ("13-records", "sharing/record/"),
    ]
    for name, path in lists:
        page.goto(f"{base}/admin/{path}")
        shot(page, name)
        overflow = page.evaluate(
            "(() => { const r = document.querySelector('#changelist .results');"
            " return r ? r.scrollWidth - r.clientWidth : 0; })()"
        )
        assert overflow <= 0, f"{path}: {overflow} px of the list cut off at 1366 px"
        assert page.evaluate("document.documentElement.scrollWidth") <= 1366, path
