"""The report form as a department official uses it: headless Chromium fills and submits it, file upload included."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest_web import PLANNED, PNG, YUBEI, Live, counts, stored_files
from e2e.driver import CHROMIUM, CHROMIUM_ARGS, UI_TIMEOUT_MS
from playwright.sync_api import Browser, Page, expect, sync_playwright
from sqlalchemy import select

from coop.access import LinkSigner
from coop.evidence import path_for
from models.db import session_scope
from models.tables import LedgerEvent, Report


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    # Missing Chromium is a failure, as in the e2e suite: `make test` installs it (make browser).
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium (make browser)")
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN")  # a phone
    page = context.new_page()
    page.set_default_timeout(UI_TIMEOUT_MS)  # waits are on elements; this is only the deadline for a loaded box
    yield page
    context.close()


def report_url(live: Live, key: str) -> str:
    assert live.settings.secret_key is not None
    token = LinkSigner(live.settings.secret_key.get_secret_value()).issue(
        "report", live.departments[YUBEI], live.occurrences[key]
    )
    return f"{live.url}/r/{token}"


def test_department_fills_the_form_on_a_phone_with_a_photo(live: Live, page: Page, tmp_path: Path) -> None:
    photo = tmp_path / "签到表.png"
    photo.write_bytes(PNG)
    url = report_url(live, "1.1@2026-12-31")
    page.goto(url)
    assert "联合培训" in page.inner_text("h1")
    # The outcome choices are one group with an accessible name, as a screen reader announces it.
    group = page.get_by_role("group", name="完成情况")
    expect(group).to_be_visible()
    expect(group.get_by_role("radio")).to_have_count(3)
    group.get_by_role("radio", name="部分完成").check()
    assert page.is_checked("input[name=outcome][value=partial]")
    assert page.locator("#participants").count() == 0  # the clause targets participants: asked once, below
    page.fill("#metric-participants", "30")
    page.fill("#evidence", "https://example.cn/photos/1.jpg")
    page.set_input_files("#files", str(photo))
    page.fill("#note", "第一期已举办")
    page.click("#submit")
    page.wait_for_selector("#message")
    assert "已记录" in page.inner_text("h1") and "部分完成" in page.inner_text("#message")
    assert "已报告 30 / 目标 50" in page.content()
    list_href = page.get_by_role("link", name="返回本部门任务清单").get_attribute("href")
    assert list_href is not None and list_href.startswith("/d/")

    # Going back to the used link shows it is spent (pages are no-store, so the browser asks again);
    # posting it again from a copy of the form is refused too; the new link on the result page works.
    next_href = page.get_attribute("#next", "href")
    assert next_href is not None
    page.go_back()
    page.wait_for_selector("#message")
    assert "已使用" in page.inner_text("#message")
    replay = page.request.post(url, multipart={"outcome": "done"})
    assert replay.status == 410
    page.goto(live.url + next_href)
    page.check("input[name=outcome][value=done]")
    page.fill("#metric-participants", "20")
    page.click("#submit")
    page.wait_for_selector("#status")
    assert page.inner_text("#status") == "已完成"
    # The link back leads to the department's task list, which no longer lists the finished task.
    page.get_by_role("link", name="返回本部门任务清单").click()
    page.wait_for_url(f"{live.url}/d/*")
    expect(page.locator("h1")).to_contain_text("渝北区")
    expect(page.locator("h1")).to_contain_text("待办任务")

    digest = hashlib.sha256(PNG).hexdigest()
    assert stored_files(live) == [path_for(live.settings.evidence_dir, digest)]
    with session_scope(live.db_url) as s:
        reports = s.execute(select(Report).order_by(Report.id)).scalars().all()
        events = (
            s.execute(
                select(LedgerEvent)
                .where(LedgerEvent.kind.in_(["occurrence_progress", "occurrence_done"]))
                .order_by(LedgerEvent.id)
            )
            .scalars()
            .all()
        )  # type: ignore[attr-defined]
    assert [(r.outcome, r.participants, r.metrics, r.note) for r in reports] == [
        ("partial", 30, {"participants": 30}, "第一期已举办"),
        ("done", 20, {"participants": 20}, None),
    ]
    assert reports[0].evidence == ["https://example.cn/photos/1.jpg", f"sha256:{digest}"]
    assert f"sha256:{digest}" in events[0].payload


def test_a_refused_submission_keeps_what_was_typed(live: Live, page: Page) -> None:
    page.goto(report_url(live, "1.1@2026-12-31"))
    page.check("input[name=outcome][value=cannot]")
    page.fill("#metric-participants", "12")
    page.click("#submit")
    page.wait_for_selector("#error")
    assert "原因" in page.inner_text("#error")
    assert page.input_value("#metric-participants") == "12"
    assert page.is_checked("input[name=outcome][value=cannot]")
    assert counts(live.db_url) == PLANNED
    page.fill("#note", "场地改造，无法举办")
    page.click("#submit")
    page.wait_for_selector("#message")
    assert "无法完成" in page.inner_text("#message")
    assert counts(live.db_url) == (1, PLANNED[1] + 1, 0)
