"""A department's calendar feed as a subscribed calendar shows it: the .ics fetched from the live server, parsed with
`icalendar` and laid out as an agenda in Chromium (screenshot: test-output/calendar/). Cancelled tasks are struck."""

from __future__ import annotations

import html
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest_web import YUBEI, Live
from e2e.driver import CHROMIUM, CHROMIUM_ARGS, ROOT, UI_TIMEOUT_MS
from icalendar import Calendar
from playwright.sync_api import Browser, expect, sync_playwright

from coop.services.feeds import feed_url

SCREENSHOTS = ROOT / "test-output" / "calendar"
WEEKDAYS = "一二三四五六日"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium (make browser)")
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


def short(link: str) -> str:
    """A report link as a calendar app shows it: its start (the token is a credential, not something to read)."""
    return f"报告链接 {link[: link.index('/r/') + 12]}…" if "/r/" in link else ""


def agenda(calendar: Calendar) -> str:
    """The feed as a calendar app's agenda: one row per event by date, cancelled ones struck through."""
    rows = []
    for event in sorted(calendar.walk("VEVENT"), key=lambda e: (e.decoded("dtstart"), str(e["uid"]))):
        day = event.decoded("dtstart")
        cancelled = str(event["status"]) == "CANCELLED"
        description = str(event.get("description", "")).splitlines()
        rows.append(
            f'<li class="{"cancelled" if cancelled else ""}" data-uid="{html.escape(str(event["uid"]))}">'
            f'<div class="date">{day:%Y-%m-%d}<span>周{WEEKDAYS[day.weekday()]}</span></div>'
            f'<div class="what"><div class="summary">{html.escape(str(event["summary"]))}</div>'
            f'<div class="detail">{html.escape(" · ".join(description[:2]))}</div>'
            f'<div class="link">{html.escape(short(str(event.get("url", ""))))}</div></div></li>'
        )
    name = html.escape(str(calendar["x-wr-calname"]))
    return f"""<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><style>
      body {{ font-family: "Noto Sans CJK SC", sans-serif; margin: 0; background: #f4f5f7; color: #1f2329; }}
      header {{ background: #1565c0; color: #fff; padding: 14px 20px; font-size: 18px; }}
      header small {{ display: block; font-size: 12px; opacity: .85; margin-top: 4px; }}
      ol {{ list-style: none; margin: 16px; padding: 0; }}
      li {{ display: flex; gap: 16px; background: #fff; border-radius: 8px; padding: 12px 16px; margin-bottom: 10px;
           border-left: 5px solid #1565c0; }}
      li.cancelled {{ border-left-color: #9e9e9e; color: #9e9e9e; }}
      li.cancelled .summary {{ text-decoration: line-through; }}
      .date {{ flex: none; width: 7em; font-weight: 600; }}
      .date span {{ display: block; font-weight: normal; color: #646a73; }}
      .summary {{ font-weight: 600; }} .detail {{ font-size: 13px; color: #646a73; margin-top: 4px; }}
      .link {{ font-size: 12px; color: #1565c0; word-break: break-all; margin-top: 4px; }}
    </style></head><body><header>{name}<small>已订阅 · 每小时刷新 · Asia/Shanghai</small></header>
    <ol id="agenda">{"".join(rows)}</ol></body></html>"""


def test_a_departments_feed_as_a_subscribed_calendar_shows_it(browser: Browser, live: Live) -> None:
    cancelled = live.occurrences["1.1@2026-12-31"]
    with live.client("coordinator") as coordinator:
        answer = coordinator.post(f"/api/v1/coordinator/occurrences/{cancelled}/cancel", json={"reason": "活动取消"})
        assert answer.status_code == 200, answer.text
    url = feed_url(live.db_url, live.settings, "测试", YUBEI).url
    with live.client() as client:
        ics = client.get(url)
    assert ics.status_code == 200
    calendar = Calendar.from_ical(ics.content)
    events = calendar.walk("VEVENT")
    context = browser.new_context(viewport={"width": 900, "height": 700}, locale="zh-CN")
    page = context.new_page()
    page.set_default_timeout(UI_TIMEOUT_MS)
    page.set_content(agenda(calendar))
    items = page.locator("#agenda li")
    expect(items).to_have_count(len(events))
    struck = page.locator("#agenda li.cancelled")
    expect(struck).to_have_count(1)
    expect(struck.locator(".summary")).to_have_css("text-decoration-line", "line-through")
    expect(page.locator("#agenda li:not(.cancelled) .link").first).to_contain_text(f"{live.url}/r/")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    dialect = live.db_url.split(":", 1)[0].split("+", 1)[0]
    page.screenshot(path=str(SCREENSHOTS / f"feed-{dialect}.png"), full_page=True)
    context.close()
