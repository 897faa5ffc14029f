"""Tasks that change occurrence state: completion reports, waivers, the status sweep."""

from __future__ import annotations

import datetime as dt

from prefect import task
from prefect.cache_policies import NO_CACHE

from coop.store.occurrences import CompletionReport, SweepResult, record_completion, sweep
from models.db import session_scope
from tasks.report import explain_user_error


@task(name="记录完成情况 record completion", cache_policy=NO_CACHE, on_failure=[explain_user_error])
def record_report(report: CompletionReport, actor: str, database_url: str | None = None) -> int:
    with session_scope(database_url) as session:
        return record_completion(session, report, actor)


@task(name="更新任务状态 sweep statuses", cache_policy=NO_CACHE, on_failure=[explain_user_error])
def sweep_statuses(today: dt.date, actor: str, database_url: str | None = None) -> SweepResult:
    with session_scope(database_url) as session:
        return sweep(session, today, actor)
