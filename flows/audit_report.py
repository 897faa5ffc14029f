"""The audit report as a Prefect run: verify the ledger, compute rates / overdue / progress, publish artifacts."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from prefect import flow
from pydantic import Field

from coop.audit import AuditSummary, GroupBy
from coop.clock import today_in_shanghai
from coop.errors import CoopError
from coop.store.audit import AuditFilter
from tasks.audit import collect_audit, publish_audit_artifact, verify_ledger
from tasks.database import migrate_database



@flow(name="audit-report", log_prints=True)
def audit_report(
    as_of: Annotated[dt.date | None, Field(description="审计基准日：该日结束时的状态（默认今天，据台账重建过去的状态）")] = None,
    group_by: Annotated[GroupBy, Field(description="分组：协议 agreement / 工程 programme / 单位 party / 部门 department / 月 month / 季 quarter / 年 year")] = "agreement",
    agreement: Annotated[str | None, Field(description="只看某一协议（编号）")] = None,
    programme: Annotated[str | None, Field(description="只看某一工程（编号）")] = None,
    party: Annotated[str | None, Field(description="只看某一单位")] = None,
    department: Annotated[str | None, Field(description="只看某一部门：单位/部门")] = None,
    due_from: Annotated[dt.date | None, Field(description="截止日期不早于")] = None,
    due_to: Annotated[dt.date | None, Field(description="截止日期不晚于")] = None,
    overdue_limit: Annotated[int, Field(ge=0, le=5000, description="报告中列出的逾期任务数上限")] = 200,
    database_url: Annotated[str | None, Field(description="数据库地址（默认 COOP_DATABASE_URL）")] = None,
) -> AuditSummary:
    today = today_in_shanghai()
    day = as_of or today
    if day > today:
        raise CoopError(f"审计基准日 {day} 晚于今天 {today} (as_of is in the future)")
    migrate_database(database_url)
    verification = verify_ledger(database_url)
    flt = AuditFilter(agreement=agreement, programme=programme, party=party, department=department, due_from=due_from, due_to=due_to)
    summary = collect_audit(flt, day, today, group_by, overdue_limit, database_url)
    publish_audit_artifact(summary, verification)
    return summary
