"""Tasks for notifications: decide and render (one transaction), then drain the outbox."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from prefect import task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from sqlalchemy import select

from coop.access import link_for
from coop.calendar import default_calendar
from coop.dispatcher import DrainReport, drain_outbox
from coop.notify.channels import redact
from coop.settings import get_settings
from coop.store.notices import (
    BatchResult,
    batch_notices,
    record_due_notices,
    record_weekly_digests,
)
from coop.summary import dispatch_markdown
from models.db import session_scope
from models.tables import Agency, Department


@dataclass
class Enqueued:
    decided: int
    batch: BatchResult


@task(name="生成提醒 decide and render notices", cache_policy=NO_CACHE)
def enqueue_notifications(today: dt.date, database_url: str | None = None) -> Enqueued:
    """Decisions and the messages they produce commit together, or not at all."""
    with session_scope(database_url) as session:
        decided = record_due_notices(session, today, default_calendar())
        # Each item carries a signed, expiring link to that department's report form.
        return Enqueued(decided, batch_notices(session, today, link_for(get_settings())))


@task(name="生成周报 render weekly digests", cache_policy=NO_CACHE)
def enqueue_weekly(today: dt.date, database_url: str | None = None) -> Enqueued:
    with session_scope(database_url) as session:
        return Enqueued(0, record_weekly_digests(session, today, default_calendar()))


@task(name="投递消息 deliver outbox", cache_policy=NO_CACHE)
def deliver_outbox(database_url: str | None = None, wait_seconds: float | None = None) -> DrainReport:
    return drain_outbox(database_url, wait_seconds=wait_seconds)


@task(name="发布投递报告 publish dispatch artifact", cache_policy=NO_CACHE)
def publish_dispatch_artifact(
    enqueued: Enqueued, report: DrainReport, title: str, database_url: str | None = None
) -> str:
    with session_scope(database_url) as session:
        names = {
            did: f"{agency}{dept}"
            for did, agency, dept in session.execute(select(Department.id, Agency.name, Department.name).join(Agency))
        }
    markdown = redact(dispatch_markdown(title, enqueued.decided, enqueued.batch, report, names))
    create_markdown_artifact(key="notifications", markdown=markdown, description=title)
    return markdown
