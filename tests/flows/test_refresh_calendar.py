"""The refresh-calendar flow on a temporary Prefect server: new 2027 data re-plans, and the run says what moved."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import pytest
from prefect.client.orchestration import get_client
from sqlalchemy import select

from coop.agreement.loader import parse_agreement
from coop.calendar import WorkdayCalendar
from coop.services.planning import calendar_version, expand_checked
from coop.settings import Settings, get_settings
from coop.store.plans import apply_plan
from flows.refresh_calendar import refresh_calendar
from models.db import session_scope
from models.tables import Occurrence
from tasks.calendar import ARTIFACT_KEY

pytestmark = pytest.mark.usefixtures("prefect_server")

AGREEMENT = """\
id: cal-flow
title: 日历更新流程测试
signed: 2026-01-01
term: {start: 2026-01-01, end: 2027-12-31}
parties:
  - name: 渝北区
    coordinator: 区委社会工作部
    departments: [{name: 区委社会工作部}]
programmes:
  - id: "1"
    title: 测试工程
    clauses:
      - id: 1.1
        title: 季度例会
        kind: meeting
        responsible: {party: 渝北区}
        recurrence: {rrule: "FREQ=MONTHLY;INTERVAL=3;BYMONTHDAY=10", adjust: next}
"""
TODAY = dt.date(2026, 12, 1)


async def _artifact(key: str) -> str:
    async with get_client() as client:
        latest = await client.read_latest_artifacts()
    return next(str(a.data) for a in latest if a.key == key)


def test_refresh_calendar_flow_replans_and_reports(
    db_env: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old, new = tmp_path / "old.yaml", tmp_path / "new.yaml"
    old.write_text("holidays: []\n", encoding="utf-8")
    new.write_text("official: [2027]\nholidays: [2027-07-12]\n", encoding="utf-8")  # 10 Jul is a Saturday
    settings = Settings(database_url=db_env, calendar_overrides=old)
    loaded = parse_agreement(AGREEMENT, "cal-flow.yaml")
    calendar = WorkdayCalendar(old)
    with session_scope(db_env) as s:
        apply_plan(
            s,
            loaded,
            expand_checked(loaded, settings, calendar),
            TODAY,
            "tester",
            calendar_version(loaded, settings, calendar),
        )
    monkeypatch.setenv("COOP_CALENDAR_OVERRIDES", str(new))
    get_settings.cache_clear()
    run = refresh_calendar(today=TODAY)
    assert [c.due_after for c in run.refreshed[0].moved] == [dt.date(2027, 7, 13)]
    with session_scope(db_env) as s:
        provisional = s.execute(select(Occurrence.provisional).where(Occurrence.due_date >= TODAY)).scalars().all()
    assert provisional and not any(provisional)
    markdown = asyncio.run(_artifact(ARTIFACT_KEY))
    assert "节假日日历更新" in markdown and "2027-07-12 → 2027-07-13" in markdown
