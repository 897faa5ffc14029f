"""A department reports what it did for one occurrence; the report lands in the ledger."""

from __future__ import annotations

from typing import Annotated, Literal

from prefect import flow
from pydantic import Field

from coop.settings import get_settings
from coop.store.occurrences import CompletionReport
from tasks.database import migrate_database
from tasks.occurrences import record_report


@flow(name="record-completion", log_prints=True)
def record_completion(
    occurrence_id: Annotated[int, Field(ge=1, description="任务编号")],
    department: Annotated[str, Field(description="责任部门，写作 单位/部门，如 渝北区/区委社会工作部")],
    outcome: Annotated[Literal["done", "partial", "cannot"], Field(description="完成情况：done 已完成 / partial 部分完成 / cannot 无法完成")] = "done",
    participants: Annotated[int | None, Field(ge=0, description="参与人数")] = None,
    metrics: Annotated[dict[str, int] | None, Field(description="指标完成数，如 {\"resident_questionnaires\": 1200}")] = None,
    evidence: Annotated[list[str] | None, Field(description="佐证材料链接或文件哈希")] = None,
    note: Annotated[str | None, Field(description="说明（无法完成时必填）")] = None,
    actor: Annotated[str | None, Field(description="报告人")] = None,
    database_url: Annotated[str | None, Field(description="数据库地址（默认 COOP_DATABASE_URL）")] = None,
) -> int:
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
    return record_report(report, actor or department or get_settings().actor, database_url)
