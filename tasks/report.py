"""Tasks that tell people what happened: the coordinator's summaries (`coop.services.status`) and Chinese artifacts."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from prefect import task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.objects import State
from prefect.logging.loggers import task_run_logger

from coop.agreement.loader import LoadedAgreement
from coop.artifacts import (
    OVERDUE_KEY,
    PLAN_INDEX_KEY,
    PlanRun,
    completion_key,
    completion_markdown,
    plan_index_markdown,
    plan_key,
    plan_markdown,
    planned_counts,
    sweep_markdown,
    user_error_markdown,
    user_error_text,
)
from coop.errors import CoopError
from coop.occurrence_status import SweepResult
from coop.planning import PlannedOccurrence, PlanResult
from coop.report import CompletionReport
from coop.services import status
from coop.store.status import AgreementSummary, OccurrenceDetail


@task(name="汇总协议执行情况 summarise agreements", cache_policy=NO_CACHE)
def summarise_agreements(today: dt.date, agreement_id: str | None, database_url: str) -> list[AgreementSummary]:
    return status.agreement_summaries(database_url, today, agreement_id)


@task(name="列出逾期任务 list overdue", cache_policy=NO_CACHE)
def list_overdue(database_url: str) -> tuple[int, list[OccurrenceDetail]]:
    return status.overdue_occurrences(database_url)


@task(name="读取任务详情 describe occurrence", cache_policy=NO_CACHE)
def describe_occurrence(occurrence_id: int, database_url: str) -> OccurrenceDetail | None:
    return status.describe_occurrence(database_url, occurrence_id)


@task(name="发布计划报告 publish plan artifact", cache_policy=NO_CACHE)
def publish_plan_artifact(
    loaded: LoadedAgreement, planned: list[PlannedOccurrence], result: PlanResult, summaries: list[AgreementSummary]
) -> str:
    title = loaded.agreement.title
    markdown = plan_markdown(result, title, planned_counts(loaded, planned), summaries)
    create_markdown_artifact(key=plan_key(result.agreement_id), markdown=markdown, description=f"计划结果：{title}")
    return markdown


@task(name="发布计划汇总 publish plan index", cache_policy=NO_CACHE)
def publish_plan_index(today: dt.date, runs: Sequence[PlanRun]) -> str:
    """One summary of a bulk plan: every agreement file with its outcome, or the error that stopped it."""
    markdown = plan_index_markdown(today, runs)
    create_markdown_artifact(key=PLAN_INDEX_KEY, markdown=markdown, description="全部协议计划结果")
    return markdown


@task(name="发布逾期清单 publish overdue list", cache_policy=NO_CACHE)
def publish_sweep_artifact(
    today: dt.date, result: SweepResult, overdue_list: tuple[int, list[OccurrenceDetail]]
) -> str:
    total, items = overdue_list
    markdown = sweep_markdown(today, result, total, items)
    create_markdown_artifact(key=OVERDUE_KEY, markdown=markdown, description=f"逾期清单（{today}）")
    return markdown


@task(name="发布完成情况 publish completion artifact", cache_policy=NO_CACHE)
def publish_completion_artifact(report: CompletionReport, event_id: int, occurrence: OccurrenceDetail | None) -> str:
    markdown = completion_markdown(report, event_id, occurrence)
    key = completion_key(occurrence.agreement_id) if occurrence else None
    create_markdown_artifact(key=key, markdown=markdown, description=f"完成情况登记：任务 #{report.occurrence_id}")
    return markdown


def explain_user_error(tsk: object, task_run: object, state: State) -> None:
    """on_failure hook: Prefect logs a user mistake as a repr inside a traceback; say it plainly, log and artifact."""
    exc = state.result(raise_on_failure=False)
    if not isinstance(exc, CoopError):
        return
    task_run_logger(task_run, tsk).error(user_error_text(exc))  # type: ignore[arg-type]
    create_markdown_artifact(markdown=user_error_markdown(exc), description="运行失败原因")
