"""Weekly: when official holiday data (chinesecalendar, the overrides file) changed, re-plan what it moves."""

from __future__ import annotations

from typing import Annotated

from prefect import flow

from coop.clock import today_in_shanghai
from coop.errors import CoopError
from coop.services.calendar_refresh import CalendarRefresh
from coop.settings import get_settings
from flows.failure import explained
from flows.forms import Today, label
from tasks.calendar import publish_refresh_artifact, refresh_plans
from tasks.database import check_schema


@flow(name="refresh-calendar", log_prints=True)
@explained
def refresh_calendar(
    today: Annotated[Today, label("生效日期", "自该日起到期、尚未办结的任务按新日历调整（默认今天）")] = None,
) -> CalendarRefresh:
    """Re-plan every agreement planned with older calendar data; only open tasks due from `today` on move.

    Args:
        today: 生效日期：自该日起到期、尚未办结的任务按新日历调整（默认今天，上海时区）
    """
    settings = get_settings()
    url = settings.database_url
    day = today or today_in_shanghai()
    check_schema(url)
    run = refresh_plans(url, day, settings)
    publish_refresh_artifact(run)
    if run.failed:
        raise CoopError("日历更新后未能重新计划：" + "；".join(f"{r.agreement_id}：{r.error}" for r in run.failed))
    return run
