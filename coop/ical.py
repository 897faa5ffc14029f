"""iCalendar rendering of a task feed (RFC 5545 via the `icalendar` library): pure, no database, no settings.

Each task is an all-day VEVENT on its due date (subscribed calendars in Outlook, WeCom and Apple show events; most
ignore VTODO). The UID is the occurrence's agreement and key, stable across re-plans; SEQUENCE is given by the
caller from the ledger, so it grows whenever the task changed. Cancelled and waived tasks stay in the feed for a
while as STATUS:CANCELLED, so a subscribed calendar strikes them through instead of silently dropping them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from icalendar import Calendar, Event, vDuration

from coop.markup import message_text

TIMEZONE = "Asia/Shanghai"
PRODID = "-//coop 协作通//calendar feed//ZH"
_CANCELLED = frozenset({"cancelled", "waived"})
_STATUS_TEXT = {
    "planned": "计划中",
    "due": "待办",
    "overdue": "已逾期",
    "suspended": "已暂停",
    "cancelled": "已取消",
    "waived": "已豁免",
}


@dataclass(frozen=True)
class FeedItem:
    """One task as a feed shows it."""

    occurrence_id: int
    agreement_id: str
    key: str
    title: str  # clause title
    agreement_title: str
    window_start: dt.date
    due_date: dt.date
    status: str
    sequence: int
    updated_at: dt.datetime
    who: str  # party/department responsible
    location: str | None = None
    host: str | None = None
    link: str | None = None  # the report link (department feeds)


def uid(agreement_id: str, key: str) -> str:
    """The same task keeps the same UID through re-plans, extensions and cancellation."""
    return f"{agreement_id}/{key}@coop"


def render(name: str, items: Sequence[FeedItem], now: dt.datetime) -> bytes:
    """The whole feed as an .ics document: every item, with its current SEQUENCE and status."""
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    cal.add("x-wr-calname", message_text(name))
    cal.add("x-wr-timezone", TIMEZONE)
    cal.add("refresh-interval", vDuration(dt.timedelta(hours=1)), parameters={"VALUE": "DURATION"})
    cal.add("x-published-ttl", "PT1H")
    for item in items:
        cal.add_component(_event(item, now))
    return bytes(cal.to_ical())


def _event(item: FeedItem, now: dt.datetime) -> Event:
    event = Event()
    cancelled = item.status in _CANCELLED
    state = _STATUS_TEXT.get(item.status, item.status)
    prefix = f"[{state}] " if item.status in {"overdue", "suspended", *_CANCELLED} else ""
    event.add("uid", uid(item.agreement_id, item.key))
    event.add("dtstamp", now.astimezone(dt.UTC))
    event.add("last-modified", item.updated_at.astimezone(dt.UTC))
    event.add("sequence", item.sequence)
    # Agreement text goes through `message_text`: calendar clients that show HTML or markdown in a description
    # (several do) still show the text, never a tag or a link the author wrote.
    event.add("summary", f"{prefix}{message_text(item.title)}")
    # An all-day event on the due date (a date in Shanghai, hence no time zone on it).
    event.add("dtstart", item.due_date)
    event.add("dtend", item.due_date + dt.timedelta(days=1))
    event.add("transp", "TRANSPARENT")
    event.add("status", "CANCELLED" if cancelled else "TENTATIVE" if item.status == "suspended" else "CONFIRMED")
    lines = [
        f"协议：{message_text(item.agreement_title)}",
        f"责任单位：{message_text(item.who)}",
        f"办理期间：{item.window_start} 至 {item.due_date}",
        f"状态：{state}",
    ]
    if item.host:
        lines.append(f"承办：{message_text(item.host)}")
    if item.link and not cancelled:
        lines.append(f"报告完成情况：{item.link}")
        event.add("url", item.link)
    event.add("description", "\n".join(lines))
    if item.location:
        event.add("location", message_text(item.location))
    event.add("x-coop-occurrence", str(item.occurrence_id))
    return event
