"""Weekly overview per department: what is overdue and what falls due in the next two weeks."""

from __future__ import annotations

from prefect import flow

from coop.clock import today_in_shanghai
from coop.notify.results import DrainReport
from coop.settings import get_settings
from flows.failure import explained
from flows.forms import Today, WaitSeconds
from tasks.database import check_schema
from tasks.notify import deliver_outbox, enqueue_weekly, publish_dispatch_artifact


@flow(name="send-weekly-digest", log_prints=True)
@explained
def send_weekly_digest(today: Today = None, wait_seconds: WaitSeconds = None) -> DrainReport:
    """Enqueue one weekly overview per department, then drain the outbox.

    Args:
        today: 基准日（默认今天，上海时区）：列出此前逾期和此后两周到期的任务
        wait_seconds: 本次运行等待重试的最长秒数（默认 COOP_NOTIFY_WAIT_SECONDS）
    """
    settings = get_settings()
    url = settings.database_url
    day = today or today_in_shanghai()
    check_schema(url)
    enqueued = enqueue_weekly(day, url, settings)
    report = deliver_outbox(url, settings, wait_seconds)
    publish_dispatch_artifact(enqueued, report, f"每周任务周报（{day}）", url)
    return report
