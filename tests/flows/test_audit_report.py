"""The audit-report flow on a temporary Prefect server: same numbers as the API, published as Chinese artifacts."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import json
import re

import pytest
from conftest_web import YUBEI, plan_small, tamper
from prefect.client.orchestration import get_client
from sqlalchemy import select

from coop.clock import today_in_shanghai
from coop.errors import CoopError
from coop.report import CompletionReport
from coop.store.occurrences import record_completion, waive
from flows.audit_report import audit_report
from models.db import session_scope
from models.tables import LedgerEvent

pytestmark = pytest.mark.usefixtures("prefect_server")


async def _artifacts(*keys: str) -> dict[str, str]:
    async with get_client() as client:
        latest = await client.read_latest_artifacts()
    return {a.key: str(a.data) for a in latest if a.key in keys}


def test_audit_report_flow_publishes_the_report(db_env: str) -> None:
    ids = plan_small(db_env)
    with session_scope(db_env) as s:
        record_completion(
            s, CompletionReport(ids["1.1@2026-03-31"], YUBEI, participants=40, metrics={"participants": 40}), YUBEI
        )
        waive(s, ids["1.2@2025-10-01/广安市"], "并入市级活动", "协调人")
    summary = audit_report(group_by="department")
    assert summary.as_of == today_in_shanghai()
    overall = summary.overall
    assert (overall.total, overall.expected, overall.done, overall.waived) == (15, 10, 1, 1)
    artifacts = asyncio.run(_artifacts("audit-report", "audit-rates"))
    markdown = artifacts["audit-report"]
    assert "# 协议执行审计报告" in markdown and "## 按部门统计" in markdown
    assert "| 渝北区/区委社会工作部 |" in markdown and "逾期任务（共 9 项）" in markdown
    assert "| test-small | 第1.1条 | 联合培训 | 参与人数 | 40 | 400 | 10.0% |" in markdown
    with session_scope(db_env) as s:
        kinds = list(s.execute(select(LedgerEvent.kind).order_by(LedgerEvent.id)).scalars())
    # The plan brings statuses up to date as of its day (two sweep events), then the report and the waiver.
    assert kinds == ["agreement_planned", "sweep_overdue", "sweep_due", "occurrence_done", "occurrence_waived"]
    assert f"台账完整：{len(kinds)} 条事件" in markdown
    # The rates drawn as an SVG inside the artifact (Prefect's UI renders a Markdown image as an <img>).
    chart = re.search(r"!\[按部门的完成率与按时率（图）\]\(data:image/svg\+xml;base64,([A-Za-z0-9+/=]+)\)", markdown)
    assert chart is not None
    svg = base64.b64decode(chart.group(1)).decode()
    assert svg.startswith("<svg") and "渝北区/团区委" in svg and "0.0% / 0.0%（应完成 3）" in svg
    rates = {row["部门"]: row for row in json.loads(artifacts["audit-rates"])}
    assert rates["渝北区/团区委"]["逾期"] == 3 and rates["合计"]["完成率"] == "10.0%"


def test_audit_report_flags_a_tampered_ledger_and_refuses_the_future(db_env: str) -> None:
    plan_small(db_env)
    tamper(db_env, "UPDATE ledger_event SET actor = '冒名者' WHERE id = 1")
    audit_report(as_of=today_in_shanghai() - dt.timedelta(days=1))
    markdown = asyncio.run(_artifacts("audit-report"))["audit-report"]
    assert "台账被改动" in markdown and "事件 #1" in markdown
    assert "共 **0** 项任务" in markdown  # planned today: nothing existed yesterday
    with pytest.raises(CoopError):
        audit_report(as_of=today_in_shanghai() + dt.timedelta(days=1))
