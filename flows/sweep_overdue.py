"""Daily status sweep: open windows become due, passed due dates become overdue."""

from __future__ import annotations

from prefect import flow

from coop.clock import today_in_shanghai
from coop.occurrence_status import SweepResult
from coop.settings import get_settings
from flows.failure import explained
from flows.forms import Today
from tasks.database import check_schema
from tasks.occurrences import sweep_statuses
from tasks.report import list_overdue, publish_sweep_artifact


@flow(name="sweep-overdue", log_prints=True)
@explained
def sweep_overdue(today: Today = None) -> SweepResult:
    """Move statuses on as of one day, then publish the overdue list.

    Args:
        today: 基准日（默认今天，上海时区）
    """
    settings = get_settings()
    url = settings.database_url
    day = today or today_in_shanghai()
    check_schema(url)
    result = sweep_statuses(day, settings.actor, url)
    publish_sweep_artifact(day, result, list_overdue(url))
    return result
