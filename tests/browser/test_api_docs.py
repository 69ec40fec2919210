"""The API's docs page in a real browser: Swagger UI from the server's own files, in the browser's language."""

from __future__ import annotations

# The operators' desk test's Chromium fixture, skips (no Chromium, no playwright) and database.
from tests.browser.test_operator_desk import browser_page, pytestmark, shot  # noqa: F401


def _opened(page, url: str) -> str:
    page.goto(url)
    page.wait_for_selector(".opblock-summary-description")
    return page.inner_text("#swagger-ui")


def test_the_docs_page_renders_offline_in_chinese_and_in_english(browser_page, live_server):  # noqa: F811
    page = browser_page
    requested = []
    page.on("request", lambda request: requested.append(request.url))
    chinese = _opened(page, f"{live_server.url}/api/v1/docs/")  # the browser asks for zh-CN
    shot(page, "api-docs-zh")
    assert "查询标识符" in chinese and "提交一批记录" in chinese
    english = _opened(page, f"{live_server.url}/api/v1/docs/?lang=en")
    shot(page, "api-docs-en")
    assert "Look up identifiers" in english and "查询标识符" not in english
    assert all(url.startswith(live_server.url) for url in requested), "the page fetched something from elsewhere"
