"""The auditors' dashboard in headless Chromium at desktop and phone width: charts drawn, drill-down to a task's
history in Chinese sentences, hostile agreement text shown as text. Screenshots: test-output/dashboard/."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import FIXTURES
from conftest_web import CHANGSHOU, PLAN_DAY, Live
from e2e.driver import CHROMIUM, CHROMIUM_ARGS, ROOT, UI_TIMEOUT_MS
from playwright.sync_api import Browser, Page, expect, sync_playwright

from coop.agreement.loader import load_agreement
from coop.calendar import WorkdayCalendar
from coop.clock import today_in_shanghai
from coop.planning import calendar_fingerprint, expand
from coop.store.occurrences import sweep
from coop.store.plans import apply_plan
from models.db import session_scope

SCREENSHOTS = ROOT / "test-output" / "dashboard"
CHARTS = ["chart-department", "chart-heat", "chart-party", "chart-programme", "chart-trend", "chart-progress"]
DESKTOP = {"width": 1366, "height": 900}
PHONE = {"width": 390, "height": 844}
XSS = "<img src=x onerror=window.__xss=1>"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium (make browser)")
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def reported(live: Live) -> Live:
    """The small agreement with two reports, a partial one and a waiver; the hostile agreement planned beside it."""
    o = live.occurrences
    with live.client("yubei") as yubei, live.client("changshou") as changshou, live.client("coordinator") as coord:
        body = {"participants": 45, "metrics": {"participants": 45}, "evidence": ["https://x.cn/a.jpg"]}
        assert yubei.post(f"/api/v1/occurrences/{o['1.1@2026-03-31']}/reports", json=body).status_code == 201
        early = {"participants": 50, "metrics": {"participants": 50}}
        assert yubei.post(f"/api/v1/occurrences/{o['1.1@2026-12-31']}/reports", json=early).status_code == 201
        partial = {"outcome": "partial", "metrics": {"suggestions": 7}, "note": f"已收集7条{XSS}"}
        url = f"/api/v1/occurrences/{o['1.2@2025-10-01/长寿区']}/reports"
        assert changshou.post(url, json=partial).status_code == 201
        url = f"/api/v1/coordinator/occurrences/{o['1.2@2025-10-01/广安市']}/waive"
        assert coord.post(url, json={"reason": "并入市级活动"}).status_code == 200
    cal = WorkdayCalendar()
    hostile = load_agreement(FIXTURES / "hostile.yaml")
    with session_scope(live.db_url) as s:
        apply_plan(s, hostile, expand(hostile, cal, 1000), PLAN_DAY, "tester", calendar_fingerprint(cal))
        sweep(s, today_in_shanghai(), "系统")
    return live


def open_dashboard(browser: Browser, live: Live, viewport: dict[str, int]) -> tuple[Page, list[str]]:
    context = browser.new_context(viewport=viewport, locale="zh-CN")  # type: ignore[arg-type]
    page = context.new_page()
    page.set_default_timeout(UI_TIMEOUT_MS)
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    offsite: list[str] = []
    page.on("request", lambda r: None if r.url.startswith(live.url) else offsite.append(r.url))
    page.goto(f"{live.url}/audit#token={live.tokens['auditor']}")
    expect(page.locator("#content")).to_be_visible()
    wait_for_charts(page)
    assert offsite == []  # ECharts comes from the package, not a CDN
    return page, dialogs


def wait_for_charts(page: Page) -> None:
    """Every chart has an ECharts instance with its series, and its canvas has been painted."""
    page.wait_for_function(
        """ids => ids.every(id => {
            const el = document.getElementById(id);
            const chart = window.echarts && echarts.getInstanceByDom(el);
            const canvas = el.querySelector('canvas');
            return chart && chart.getOption().series.length > 0 && canvas && canvas.width > 0;
        })""",
        arg=CHARTS,
    )


def painted(page: Page, chart_id: str) -> int:
    """How many pixels of the chart's canvas are not blank."""
    return int(
        page.evaluate(
            """id => {
                const canvas = document.getElementById(id).querySelector('canvas');
                const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
                let n = 0;
                for (let i = 3; i < data.length; i += 4) if (data[i] !== 0) n++;
                return n;
            }""",
            chart_id,
        )
    )


def dialect(live: Live) -> str:
    return live.db_url.split(":", 1)[0].split("+", 1)[0]


def click_chart(page: Page, chart_id: str, series: int, point: list[object]) -> None:
    """Click where ECharts drew a data point (its own coordinate conversion), as a person would."""
    x, y = page.evaluate(
        """([id, series, point]) => echarts.getInstanceByDom(document.getElementById(id))
               .convertToPixel({seriesIndex: series}, point)""",
        [chart_id, series, point],
    )
    page.locator(f"#{chart_id}").click(position={"x": x, "y": y})


def test_dashboard_on_a_desktop(browser: Browser, reported: Live) -> None:
    page, dialogs = open_dashboard(browser, reported, DESKTOP)
    assert "token=" not in page.url  # taken into the tab's storage, gone from the address bar
    for chart_id in CHARTS:
        assert painted(page, chart_id) > 2000, chart_id
    expect(page.locator("#kpi-overdue")).not_to_have_text("—")
    departments = page.evaluate(
        "() => echarts.getInstanceByDom(document.getElementById('chart-department')).getOption().yAxis[0].data"
    )
    assert CHANGSHOU in departments and "渝北区/团区委" in departments

    # Drill down: the heat-map cell of 长寿区 in 2025-10 narrows the overdue list to its one task, whose history
    # is told in sentences (its partial report's hostile note stays text).
    heat = page.evaluate(
        "() => { const o = echarts.getInstanceByDom(document.getElementById('chart-heat')).getOption();"
        " return [o.xAxis[0].data, o.yAxis[0].data]; }"
    )
    click_chart(page, "chart-heat", 0, [heat[0].index("2025-10"), heat[1].index(CHANGSHOU)])
    expect(page.locator("#overdue-scope")).to_contain_text(f"{CHANGSHOU} · 2025-10")
    rows = page.locator("#overdue tbody tr")
    expect(rows).to_have_count(1)
    rows.first.click()
    events = page.locator("#history-events li")
    expect(events.last).to_contain_text(
        "报告进展：部分完成，建议条数 7，说明：已收集7条<img src=x onerror=window.__xss=1>"
    )
    expect(events.first).to_contain_text("生成协议计划第 1 版")
    expect(page.locator("#history-meta")).to_contain_text("当前状态 已逾期")

    # Any task by number; the hash shows only when asked for.
    page.fill("#lookup-id", str(reported.occurrences["1.1@2026-03-31"]))
    page.click("#lookup-submit")
    expect(events.last).to_contain_text("提交完成报告：已完成，参与人数 45，晚于截止日期 2026-03-31，证据 1 份")
    expect(events.last.locator(".evidence")).to_have_text("佐证：https://x.cn/a.jpg")
    expect(events.last.locator(".hash")).to_be_hidden()
    page.check("#show-hash")
    expect(events.last.locator(".hash")).to_be_visible()
    expect(events.last.locator(".hash")).to_contain_text("哈希 ")

    # Hovering the programme chart shows the hostile programme title as text in the tooltip.
    click_chart(page, "chart-programme", 0, [50, 0])
    expect(page.locator("#chart-programme")).to_contain_text("test-hostile / 1 工程<script>alert(3)</script>")
    assert page.evaluate("() => window.__xss") is None and dialogs == []
    assert page.locator("img[src=x], script:not([src])").count() == 0

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.locator("#history").scroll_into_view_if_needed()
    page.screenshot(path=str(SCREENSHOTS / f"desktop-{dialect(reported)}.png"), full_page=True)
    page.context.close()


def test_dashboard_on_a_phone(browser: Browser, reported: Live) -> None:
    page, dialogs = open_dashboard(browser, reported, PHONE)
    for chart_id in CHARTS:
        assert painted(page, chart_id) > 2000, chart_id
        box = page.locator(f"#{chart_id}").bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], chart_id
    # One column, nothing wider than the phone.
    assert page.evaluate("() => document.documentElement.scrollWidth") <= PHONE["width"]
    # Drill-down by tapping a department's bar.
    departments = page.evaluate(
        "() => echarts.getInstanceByDom(document.getElementById('chart-department')).getOption().yAxis[0].data"
    )
    click_chart(page, "chart-department", 0, [5, departments.index("渝北区/团区委")])
    expect(page.locator("#overdue-scope")).to_contain_text("渝北区/团区委：")
    page.locator("#overdue tbody tr").first.click()
    expect(page.locator("#history-events li").first).to_contain_text("生成协议计划")
    assert page.evaluate("() => window.__xss") is None and dialogs == []
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"phone-{dialect(reported)}.png"), full_page=True)
    page.context.close()


def test_without_a_token_the_page_asks_for_one(browser: Browser, live: Live) -> None:
    context = browser.new_context(viewport=PHONE, locale="zh-CN")  # type: ignore[arg-type]
    page = context.new_page()
    page.set_default_timeout(UI_TIMEOUT_MS)
    page.goto(f"{live.url}/audit")
    expect(page.get_by_label("审计或协调人令牌")).to_be_visible()
    expect(page.locator("#content")).to_be_hidden()
    page.fill("#token", live.tokens["yubei"])  # a department may not audit
    page.click("#login-submit")
    expect(page.locator("#error")).to_contain_text("需要角色")
    expect(page.get_by_label("审计或协调人令牌")).to_be_visible()
    page.fill("#token", live.tokens["auditor"])
    page.click("#login-submit")
    expect(page.locator("#content")).to_be_visible()
    expect(page.locator("#error")).to_be_hidden()
    context.close()
