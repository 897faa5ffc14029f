"""Weekly overview per department: what is overdue and what falls due in the next two weeks."""

from __future__ import annotations

from prefect import flow

from coop.clock import today_in_shanghai
from coop.dispatcher import DrainReport
from flows.dispatch_notifications import DatabaseUrl, Today, WaitSeconds
from tasks.database import migrate_database
from tasks.notify import deliver_outbox, enqueue_weekly, publish_dispatch_artifact


@flow(name="send-weekly-digest", log_prints=True)
def send_weekly_digest(
    today: Today = None, wait_seconds: WaitSeconds = None, database_url: DatabaseUrl = None
) -> DrainReport:
    """Enqueue one weekly overview per department, then drain the outbox.

    Args:
        today: 基准日（默认今天，上海时区）：列出此前逾期和此后两周到期的任务
        wait_seconds: 本次运行等待重试的最长秒数（默认 COOP_NOTIFY_WAIT_SECONDS）
        database_url: 数据库地址（默认 COOP_DATABASE_URL）
    """
    day = today or today_in_shanghai()
    migrate_database(database_url)
    enqueued = enqueue_weekly(day, database_url)
    report = deliver_outbox(database_url, wait_seconds)
    publish_dispatch_artifact(enqueued, report, f"每周任务周报（{day}）", database_url)
    return report
