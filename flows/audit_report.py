"""The audit report as a Prefect run: verify the ledger, compute rates / overdue / progress, publish artifacts."""

from __future__ import annotations

from typing import Annotated

from prefect import flow

from coop.audit import GROUP_LABELS, AuditSummary, GroupBy
from coop.services.audit import audit_day
from coop.settings import get_settings
from coop.store.audit import AuditFilter
from flows.failure import explained
from flows.forms import Today, label
from tasks.audit import (
    collect_audit,
    collect_dead_letters,
    publish_audit_artifact,
    verify_ledger,
)
from tasks.database import check_schema

GROUP_HELP = "按什么分组：" + " / ".join(f"{code} {name}" for code, name in GROUP_LABELS.items())


@flow(name="audit-report", log_prints=True)
@explained
def audit_report(
    as_of: Annotated[Today, label("审计基准日", "该日结束时的状态（默认今天；过去的日期据台账重建）")] = None,
    group_by: Annotated[GroupBy, label("分组", GROUP_HELP)] = "agreement",
    agreement: Annotated[str, label("协议", "只看某一协议（协议编号）；不填为全部", max_length=200)] = "",
    programme: Annotated[str, label("工程", "只看某一工程（工程编号）；不填为全部", max_length=200)] = "",
    party: Annotated[str, label("单位", "只看某一单位；不填为全部", max_length=200)] = "",
    department: Annotated[str, label("部门", "只看某一部门，写作 单位/部门；不填为全部", max_length=401)] = "",
    due_from: Annotated[Today, label("截止日期起", "只看截止日期不早于此日的任务")] = None,
    due_to: Annotated[Today, label("截止日期止", "只看截止日期不晚于此日的任务")] = None,
    overdue_limit: Annotated[
        int, label("逾期任务列出上限", "报告中列出的逾期任务数上限（最早的在前）", ge=0, le=10000)
    ] = 200,
) -> AuditSummary:
    """Verify the ledger, then one read-only pass over the occurrences; a past day is rebuilt from the ledger.

    Args:
        as_of: 审计基准日：该日结束时的状态（默认今天；过去的日期据台账重建）
        group_by: 分组：协议 agreement / 工程 programme / 单位 party / 部门 department / 月 month / 季 quarter / 年 year
        agreement: 只看某一协议（协议编号）
        programme: 只看某一工程（工程编号）
        party: 只看某一单位
        department: 只看某一部门，写作 单位/部门
        due_from: 只看截止日期不早于此日的任务
        due_to: 只看截止日期不晚于此日的任务
        overdue_limit: 报告中列出的逾期任务数上限（最早的在前）
    """
    settings = get_settings()
    day = audit_day(as_of)
    check_schema(settings.database_url)
    verification = verify_ledger(settings)
    flt = AuditFilter(
        agreement=agreement.strip() or None,
        programme=programme.strip() or None,
        party=party.strip() or None,
        department=department.strip() or None,
        due_from=due_from,
        due_to=due_to,
    )
    summary = collect_audit(settings, flt, day, group_by, overdue_limit)
    publish_audit_artifact(summary, verification, collect_dead_letters(settings))
    return summary
