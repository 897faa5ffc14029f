"""Daily status sweep: open windows become due, passed due dates become overdue."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from prefect import flow
from pydantic import Field

from coop.clock import today_in_shanghai
from coop.settings import get_settings
from coop.store.occurrences import SweepResult
from tasks.database import migrate_database
from tasks.occurrences import sweep_statuses


@flow(name="sweep-overdue", log_prints=True)
def sweep_overdue(
    today: Annotated[dt.date | None, Field(description="基准日（默认今天，上海时区）")] = None,
    database_url: Annotated[str | None, Field(description="数据库地址（默认 COOP_DATABASE_URL）")] = None,
) -> SweepResult:
    migrate_database(database_url)
    return sweep_statuses(today or today_in_shanghai(), get_settings().actor, database_url)
