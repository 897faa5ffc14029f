"""Tasks that change occurrence state: completion reports and the status sweep (wrappers over `coop.services`)."""

from __future__ import annotations

import datetime as dt

from prefect import task
from prefect.cache_policies import NO_CACHE

from coop.occurrence_status import SweepResult
from coop.report import CompletionReport
from coop.services import reports, sweep
from tasks.report import explain_user_error


@task(name="记录完成情况 record completion", cache_policy=NO_CACHE, on_failure=[explain_user_error])
def record_report(report: CompletionReport, actor: str, database_url: str) -> int:
    return reports.record_report(database_url, report, actor)


@task(name="更新任务状态 sweep statuses", cache_policy=NO_CACHE, on_failure=[explain_user_error])
def sweep_statuses(today: dt.date, actor: str, database_url: str) -> SweepResult:
    return sweep.sweep_statuses(database_url, today, actor)
