"""All due logic happens in Asia/Shanghai, whatever the server's own time zone."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from coop.settings import get_settings


def today_in_shanghai(now: dt.datetime | None = None) -> dt.date:
    moment = now or dt.datetime.now(dt.UTC)
    if moment.tzinfo is None:
        raise ValueError("naive datetime: pass an aware time so the day is unambiguous")
    return moment.astimezone(ZoneInfo(get_settings().timezone)).date()
