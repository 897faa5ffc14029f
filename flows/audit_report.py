"""The audit report as a Prefect run: verify the ledger, compute rates / overdue / progress, publish artifacts."""

from __future__ import annotations

import datetime as dt

from prefect import flow

from coop.audit import AuditSummary, GroupBy
from coop.clock import today_in_shanghai
from coop.errors import CoopError
from coop.store.audit import AuditFilter
from tasks.audit import (
    collect_audit,
    collect_dead_letters,
    publish_audit_artifact,
    verify_ledger,
)
from tasks.database import migrate_database


@flow(name="audit-report", log_prints=True)
def audit_report(
    as_of: dt.date | None = None,
    group_by: GroupBy = "agreement",
    agreement: str | None = None,
    programme: str | None = None,
    party: str | None = None,
    department: str | None = None,
    due_from: dt.date | None = None,
    due_to: dt.date | None = None,
    overdue_limit: int = 200,
    database_url: str | None = None,
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
        database_url: 数据库地址（默认 COOP_DATABASE_URL）
    """
    today = today_in_shanghai()
    day = as_of or today
    if day > today:
        raise CoopError(f"审计基准日 {day} 晚于今天 {today} (as_of is in the future)")
    migrate_database(database_url)
    verification = verify_ledger(database_url)
    flt = AuditFilter(
        agreement=agreement, programme=programme, party=party, department=department, due_from=due_from, due_to=due_to
    )
    summary = collect_audit(flt, day, today, group_by, max(0, overdue_limit), database_url)
    publish_audit_artifact(summary, verification, collect_dead_letters(database_url))
    return summary
