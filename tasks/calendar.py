"""Tasks of the `refresh-calendar` flow (thin wrappers over `coop.services.calendar_refresh`)."""

from __future__ import annotations

import datetime as dt

from prefect import task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from coop.services import calendar_refresh
from coop.services.calendar_refresh import CalendarRefresh
from coop.settings import Settings
from tasks.report import explain_user_error

ARTIFACT_KEY = "calendar-refresh"


@task(name="按新日历重新计划 re-plan on new calendar data", cache_policy=NO_CACHE, on_failure=[explain_user_error])
def refresh_plans(database_url: str, today: dt.date, settings: Settings) -> CalendarRefresh:
    """Re-plan the agreements whose calendar data changed (from today on) and queue one digest per department."""
    return calendar_refresh.refresh_calendar(database_url, today, settings, actor=settings.actor)


@task(name="发布日历更新结果 publish calendar refresh", cache_policy=NO_CACHE)
def publish_refresh_artifact(run: CalendarRefresh) -> str:
    """The run as a Markdown artifact a coordinator reads: which agreements moved which dates."""
    markdown = "\n".join([f"# 节假日日历更新（{run.today}）", "", *run.lines()]) + "\n"
    create_markdown_artifact(key=ARTIFACT_KEY, markdown=markdown, description="节假日日历更新与重新计划结果")
    return markdown
