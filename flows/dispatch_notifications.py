"""Daily at 09:00 Asia/Shanghai: decide today's reminders and escalations, then deliver every due message."""

from __future__ import annotations

from prefect import flow

from coop.clock import today_in_shanghai
from coop.notify.results import DrainReport
from coop.settings import get_settings
from flows.failure import explained
from flows.forms import Today, WaitSeconds
from tasks.database import check_schema
from tasks.notify import deliver_outbox, enqueue_notifications, publish_dispatch_artifact


@flow(name="dispatch-notifications", log_prints=True)
@explained
def dispatch_notifications(today: Today = None, wait_seconds: WaitSeconds = None) -> DrainReport:
    """Enqueue today's reminders and escalations, then drain the outbox.

    Args:
        today: 基准日（默认今天，上海时区）
        wait_seconds: 本次运行等待重试的最长秒数（默认 COOP_NOTIFY_WAIT_SECONDS）
    """
    settings = get_settings()
    url = settings.database_url
    day = today or today_in_shanghai()
    check_schema(url)
    enqueued = enqueue_notifications(day, url, settings)
    report = deliver_outbox(url, settings, wait_seconds)
    publish_dispatch_artifact(enqueued, report, f"通知投递（{day}）", url)
    return report
