"""The report form as a department official uses it: headless Chromium fills and submits it, file upload included."""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest_web import PNG, YUBEI, Live, counts, stored_files
from e2e.driver import CHROMIUM, CHROMIUM_ARGS
from sqlalchemy import select

from coop.access import LinkSigner
from coop.evidence import path_for
from models.db import session_scope
from models.tables import LedgerEvent, Report

pytestmark = pytest.mark.skipif(shutil.which(CHROMIUM) is None, reason="Debian chromium is installed by `make test`")


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser) -> Iterator[object]:  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN")  # a phone
    page = context.new_page()
    yield page
    context.close()


def report_url(live: Live, key: str) -> str:
    assert live.settings.secret_key is not None
    token = LinkSigner(live.settings.secret_key.get_secret_value()).issue(
        "report", live.departments[YUBEI], live.occurrences[key]
    )
    return f"{live.url}/r/{token}"


def test_department_fills_the_form_on_a_phone_with_a_photo(live: Live, page, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    photo = tmp_path / "签到表.png"
    photo.write_bytes(PNG)
    url = report_url(live, "1.1@2026-12-31")
    page.goto(url)
    assert "联合培训" in page.inner_text("h1")
    page.check("input[name=outcome][value=partial]")
    assert page.locator("#participants").count() == 0  # the clause targets participants: asked once, below
    page.fill("#metric-participants", "30")
    page.fill("#evidence", "https://example.cn/photos/1.jpg")
    page.set_input_files("#files", str(photo))
    page.fill("#note", "第一期已举办")
    page.click("#submit")
    page.wait_for_selector("#message")
    assert "已记录" in page.inner_text("h1") and "部分完成" in page.inner_text("#message")
    assert "已报告 30 / 目标 50" in page.content()

    # Going back to the used link shows it is spent (pages are no-store, so the browser asks again);
    # posting it again from a copy of the form is refused too; the new link on the result page works.
    next_href = page.get_attribute("#next", "href")
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


def test_a_refused_submission_keeps_what_was_typed(live: Live, page) -> None:  # type: ignore[no-untyped-def]
    page.goto(report_url(live, "1.1@2026-12-31"))
    page.check("input[name=outcome][value=cannot]")
    page.fill("#metric-participants", "12")
    page.click("#submit")
    page.wait_for_selector("#error")
    assert "原因" in page.inner_text("#error")
    assert page.input_value("#metric-participants") == "12"
    assert page.is_checked("input[name=outcome][value=cannot]")
    assert counts(live.db_url) == (0, 1, 0)
    page.fill("#note", "场地改造，无法举办")
    page.click("#submit")
    page.wait_for_selector("#message")
    assert "无法完成" in page.inner_text("#message")
    assert counts(live.db_url) == (1, 2, 0)
