"""A department reports what it did for one occurrence; the report lands in the ledger."""

from __future__ import annotations

from typing import Annotated

from prefect import flow
from pydantic import Field

from coop.report import CompletionReport
from coop.settings import get_settings
from flows.failure import explained
from flows.forms import MetricEntry, OutcomeChoice, Participants, label, metrics_dict
from tasks.database import check_schema
from tasks.occurrences import record_report
from tasks.report import describe_occurrence, publish_completion_artifact


@flow(name="record-completion", log_prints=True)
@explained
def record_completion(
    occurrence_id: Annotated[int, label("任务编号", "见计划报告、逾期清单或部门任务清单", ge=1, le=2**31 - 1)],
    department: Annotated[
        str, label("责任部门", "写作 单位/部门，如 渝北区/区委社会工作部", min_length=1, max_length=401)
    ],
    outcome: Annotated[OutcomeChoice, label("完成情况", "已完成 / 部分完成 / 无法完成")] = OutcomeChoice.DONE,
    participants: Participants = None,
    metrics: Annotated[
        list[MetricEntry], label("指标完成数", "每行一个指标及其完成数量，如 参与人数 1200"), Field(max_length=50)
    ] = [],  # noqa: B006 — Prefect validates parameters into a fresh list per run; the form needs a literal default
    evidence: Annotated[
        list[str], label("佐证材料", "每行一项：链接（http/https）或已上传文件的 sha256:哈希"), Field(max_length=50)
    ] = [],  # noqa: B006 — as above
    note: Annotated[str, label("说明", "无法完成时必填", max_length=2000)] = "",
    actor: Annotated[str, label("报告人", "不填则为责任部门", max_length=100)] = "",
) -> int:
    """Record one completion report and its ledger event in one transaction; returns the event id.

    Args:
        occurrence_id: 任务编号（见计划报告、逾期清单或部门任务清单）
        department: 责任部门，写作 单位/部门，如 渝北区/区委社会工作部
        outcome: 完成情况：已完成 / 部分完成 / 无法完成
        participants: 参与人数（不填表示未统计）
        metrics: 指标完成数：每行一个指标及其数量，如 参与人数 1200
        evidence: 佐证材料：链接（http/https）或已上传文件的 sha256:哈希
        note: 说明（无法完成时必填）
        actor: 报告人（不填则为责任部门）
    """
    url = get_settings().database_url
    check_schema(url)
    report = CompletionReport(
        occurrence_id=occurrence_id,
        department=department,
        outcome=OutcomeChoice(outcome).code,
        participants=participants,
        metrics=metrics_dict(metrics),
        evidence=list(evidence),
        note=note.strip() or None,
    )
    event_id = record_report(report, actor.strip() or department, url)
    publish_completion_artifact(report, event_id, describe_occurrence(occurrence_id, url))
    return event_id
