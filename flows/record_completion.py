"""A department reports what it did for one occurrence; the report lands in the ledger."""

from __future__ import annotations

from typing import Annotated, Literal

from prefect import flow
from pydantic import Field

from coop.settings import get_settings
from coop.store.occurrences import CompletionReport
from tasks.database import migrate_database
from tasks.occurrences import record_report
from tasks.report import describe_occurrence, publish_completion_artifact


@flow(name="record-completion", log_prints=True)
def record_completion(
    occurrence_id: Annotated[int, Field(ge=1)],
    department: str,
    outcome: Literal["done", "partial", "cannot"] = "done",
    participants: Annotated[int | None, Field(ge=0)] = None,
    metrics: dict[str, int] | None = None,
    evidence: list[str] | None = None,
    note: str | None = None,
    actor: str | None = None,
    database_url: str | None = None,
) -> int:
    """Record one completion report and its ledger event in one transaction; returns the event id.

    Args:
        occurrence_id: 任务编号（见计划报告或逾期清单）
        department: 责任部门，写作 单位/部门，如 渝北区/区委社会工作部
        outcome: 完成情况：done 已完成 / partial 部分完成 / cannot 无法完成
        participants: 参与人数
        metrics: 指标完成数，如 {"resident_questionnaires": 1200}
        evidence: 佐证材料链接（http/https）或已上传文件的 sha256:哈希
        note: 说明（无法完成时必填）
        actor: 报告人（默认为责任部门）
        database_url: 数据库地址（默认 COOP_DATABASE_URL）
    """
    migrate_database(database_url)
    report = CompletionReport(
        occurrence_id=occurrence_id,
        department=department,
        outcome=outcome,
        participants=participants,
        metrics=metrics or {},
        evidence=evidence or [],
        note=note,
    )
    event_id = record_report(report, actor or department or get_settings().actor, database_url)
    publish_completion_artifact(report, event_id, describe_occurrence(occurrence_id, database_url))
    return event_id
