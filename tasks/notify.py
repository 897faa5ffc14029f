"""Tasks for notifications: decide and queue (one transaction), deliver the outbox, publish what happened."""

from __future__ import annotations

import datetime as dt

from prefect import task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from coop.notify.channels import redact
from coop.notify.results import DrainReport
from coop.services import delivery, notifications
from coop.services.notifications import Enqueued
from coop.settings import Settings
from coop.summary import dispatch_markdown


@task(name="生成提醒 decide and render notices", cache_policy=NO_CACHE)
def enqueue_notifications(today: dt.date, database_url: str, settings: Settings) -> Enqueued:
    """Decisions and the messages they produce commit together, or not at all."""
    return notifications.queue_notifications(database_url, today, settings)


@task(name="生成周报 render weekly digests", cache_policy=NO_CACHE)
def enqueue_weekly(today: dt.date, database_url: str, settings: Settings) -> Enqueued:
    return notifications.queue_weekly_digests(database_url, today, settings)


@task(name="投递消息 deliver outbox", cache_policy=NO_CACHE)
def deliver_outbox(database_url: str, settings: Settings, wait_seconds: float | None = None) -> DrainReport:
    return delivery.drain_outbox(database_url, settings=settings, wait_seconds=wait_seconds)


@task(name="发布投递报告 publish dispatch artifact", cache_policy=NO_CACHE)
def publish_dispatch_artifact(enqueued: Enqueued, report: DrainReport, title: str, database_url: str) -> str:
    names = notifications.department_names(database_url)
    markdown = redact(dispatch_markdown(title, enqueued.decided, enqueued.batch, report, names))
    create_markdown_artifact(key="notifications", markdown=markdown, description=title)
    return markdown
