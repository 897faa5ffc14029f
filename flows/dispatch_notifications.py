"""Daily at 09:00 Asia/Shanghai: decide today's reminders and escalations, then deliver every due message."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from prefect import flow
from pydantic import Field

from coop.clock import today_in_shanghai
from coop.dispatcher import DrainReport
from tasks.database import migrate_database
from tasks.notify import deliver_outbox, enqueue_notifications, publish_dispatch_artifact

Today = Annotated[dt.date | None, Field(description="基准日（默认今天，上海时区）")]
DatabaseUrl = Annotated[str | None, Field(description="数据库地址（默认 COOP_DATABASE_URL）")]
WaitSeconds = Annotated[
    float | None, Field(ge=0, le=3600, description="本次运行等待重试的最长秒数（默认 COOP_NOTIFY_WAIT_SECONDS）")
]


@flow(name="dispatch-notifications", log_prints=True)
def dispatch_notifications(
    today: Today = None, wait_seconds: WaitSeconds = None, database_url: DatabaseUrl = None
) -> DrainReport:
    """Enqueue today's reminders and escalations, then drain the outbox.

    Args:
        today: 基准日（默认今天，上海时区）
        wait_seconds: 本次运行等待重试的最长秒数（默认 COOP_NOTIFY_WAIT_SECONDS）
        database_url: 数据库地址（默认 COOP_DATABASE_URL）
    """
    day = today or today_in_shanghai()
    migrate_database(database_url)
    enqueued = enqueue_notifications(day, database_url)
    report = deliver_outbox(database_url, wait_seconds)
    publish_dispatch_artifact(enqueued, report, f"通知投递（{day}）", database_url)
    return report
