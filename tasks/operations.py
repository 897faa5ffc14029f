"""Tasks for a named coordinator's operations and backfill (thin wrappers over `coop.services`), with artifacts."""

from __future__ import annotations

import datetime as dt

from prefect import task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from coop.labels import status_label
from coop.services import backfill, on_demand, operations
from coop.services.coordinators import Coordinator, coordinator_named
from tasks.report import explain_user_error


@task(name="核验协调人 identify coordinator", cache_policy=NO_CACHE, on_failure=[explain_user_error])
def identify_coordinator(person: str, database_url: str) -> Coordinator:
    """The person's live coordinator token; the run stops, in Chinese, if they hold none."""
    return coordinator_named(database_url, person)


@task(name="执行协调人操作 apply operation", cache_policy=NO_CACHE, on_failure=[explain_user_error])
def apply_operation(
    coordinator: Coordinator,
    operation: operations.Operation,
    occurrence_id: int,
    reason: str,
    due_date: dt.date | None,
    department: str | None,
    today: dt.date | None,
    database_url: str,
) -> operations.OperationResult:
    return operations.apply(
        database_url,
        coordinator,
        operation,
        occurrence_id,
        reason,
        due_date=due_date,
        department=department,
        today=today,
    )


@task(name="发起按需任务 open on-demand occurrence", cache_policy=NO_CACHE, on_failure=[explain_user_error])
def open_on_demand_occurrence(
    coordinator: Coordinator,
    agreement_id: str,
    clause: str,
    department: str,
    reason: str,
    due_date: dt.date | None,
    today: dt.date | None,
    database_url: str,
) -> on_demand.OpenedOccurrence:
    return on_demand.open_on_demand(
        database_url, coordinator, agreement_id, clause, department, reason, due_date=due_date, today=today
    )


@task(name="补录完成情况 import backfill", cache_policy=NO_CACHE, on_failure=[explain_user_error])
def import_backfill(
    coordinator: Coordinator, path: str, today: dt.date | None, database_url: str
) -> backfill.BackfillResult:
    return backfill.import_file(database_url, coordinator, path, today)


@task(name="发布操作结果 publish operation artifact", cache_policy=NO_CACHE)
def publish_operation_artifact(result: operations.OperationResult, reason: str) -> str:
    verb = operations.OPERATION_LABELS[result.operation]
    markdown = "\n".join(
        [
            f"# 协调人操作：{verb}任务 #{result.occurrence_id}",
            "",
            f"- 操作人：{result.actor}",
            f"- 理由：{reason}",
            f"- 操作后状态：{status_label(result.status)}，截止日期 {result.due_date}",
            f"- 台账事件：#{result.event_id}（`coop audit history {result.occurrence_id}` 可查看全部记录）",
        ]
    )
    create_markdown_artifact(markdown=markdown, description=f"协调人{verb}：任务 #{result.occurrence_id}")
    return markdown


@task(name="发布发起结果 publish opened artifact", cache_policy=NO_CACHE)
def publish_opened_artifact(
    opened: on_demand.OpenedOccurrence, agreement_id: str, clause: str, department: str, reason: str
) -> str:
    markdown = "\n".join(
        [
            f"# 协调人操作：发起按需任务 #{opened.occurrence_id}（{opened.key}）",
            "",
            f"- 协议 {agreement_id} 条款 {clause}，承办部门：{department}",
            f"- 操作人：{opened.actor}",
            f"- 理由：{reason}",
            f"- 办理期：{opened.window_start} 至 {opened.due_date}，状态：{status_label(opened.status)}",
            f"- 台账事件：#{opened.event_id}（`coop audit history {opened.occurrence_id}` 可查看全部记录）",
        ]
    )
    create_markdown_artifact(markdown=markdown, description=f"协调人发起按需任务：任务 #{opened.occurrence_id}")
    return markdown


@task(name="发布补录结果 publish backfill artifact", cache_policy=NO_CACHE)
def publish_backfill_artifact(result: backfill.BackfillResult, coordinator: Coordinator) -> str:
    markdown = "\n".join(
        [
            f"# 补录完成情况：{result.source}",
            "",
            f"- 补录人：{coordinator.actor}",
            f"- 补录 {result.recorded} 项，其中按时完成 {result.on_time} 项",
            f"- 任务编号：{'、'.join(str(i) for i in result.occurrence_ids[:200])}"
            + ("……" if len(result.occurrence_ids) > 200 else ""),
        ]
    )
    create_markdown_artifact(markdown=markdown, description=f"补录完成情况：{result.source}")
    return markdown
