"""Daily status sweep: open windows become due, passed due dates become overdue."""

from __future__ import annotations

import datetime as dt

from prefect import flow

from coop.clock import today_in_shanghai
from coop.settings import get_settings
from coop.store.occurrences import SweepResult
from tasks.database import migrate_database
from tasks.occurrences import sweep_statuses
from tasks.report import list_overdue, publish_sweep_artifact


@flow(name="sweep-overdue", log_prints=True)
def sweep_overdue(today: dt.date | None = None, database_url: str | None = None) -> SweepResult:
    """Move statuses on as of one day, then publish the overdue list.

    Args:
        today: 基准日（默认今天，上海时区）
        database_url: 数据库地址（默认 COOP_DATABASE_URL）
    """
    day = today or today_in_shanghai()
    migrate_database(database_url)
    result = sweep_statuses(day, get_settings().actor, database_url)
    publish_sweep_artifact(day, result, list_overdue(database_url))
    return result
