"""The real Prefect flows on a temporary Prefect server, against SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest
from conftest import FIXTURES
from prefect.client.orchestration import get_client
from sqlalchemy import func, select

from coop.errors import AgreementError
from flows.plan_agreement import plan_agreement
from flows.record_completion import record_completion
from flows.sweep_overdue import sweep_overdue
from models.db import session_scope
from models.tables import LedgerEvent, Occurrence

pytestmark = pytest.mark.usefixtures("prefect_server")
TODAY = dt.date(2026, 3, 1)


def _count(url: str, table: type) -> int:
    with session_scope(url) as s:
        return s.execute(select(func.count()).select_from(table)).scalar_one()


def test_plan_record_sweep_through_flows(db_env: str) -> None:
    first = plan_agreement(agreement=str(FIXTURES / "small.yaml"), today=TODAY)
    assert first.created == 15
    again = plan_agreement(agreement=str(FIXTURES / "small.yaml"), today=TODAY)
    assert again.unchanged and _count(db_env, LedgerEvent) == 1
    with session_scope(db_env) as s:
        oid = s.execute(select(Occurrence.id).where(Occurrence.key == "1.1@2026-03-31")).scalar_one()
    event_id = record_completion(
        occurrence_id=oid, department="渝北区/区委社会工作部", participants=30, metrics={"participants": 30}
    )
    assert event_id == 2
    swept = sweep_overdue(today=dt.date(2026, 3, 20))
    assert swept.became_overdue == 7


async def _latest_artifact_markdown(key: str) -> str:
    async with get_client() as client:
        artifact = await client.read_latest_artifacts()
        match = [a for a in artifact if a.key == key]
        assert match, [a.key for a in artifact]
        return str(match[0].data)


def test_plan_publishes_chinese_artifact(db_env: str) -> None:
    import asyncio

    plan_agreement(agreement=str(FIXTURES / "small.yaml"), today=TODAY)
    markdown = asyncio.run(_latest_artifact_markdown("plan-test-small"))
    assert "新增 **15** 项" in markdown
    assert "| 截止日期 | 条款 | 任务 | 责任单位 | 承办方 | 状态 |" in markdown  # the next-due table
    assert "测试合作协议" in markdown


def test_invalid_agreement_fails_the_run_with_file_line_and_writes_nothing(db_env: str, tmp_path: Path) -> None:
    good = tmp_path / "a.yaml"
    shutil.copy(FIXTURES / "small.yaml", good)
    plan_agreement(agreement=str(good), today=TODAY)
    before = (_count(db_env, Occurrence), _count(db_env, LedgerEvent))
    text = good.read_text(encoding="utf-8").replace("rotate: [渝北区, 长寿区, 广安市]", "rotate: [渝北区, 渝中区]")
    good.write_text(text.replace("targets: {participants: 50}", "targets: {participants: 80}"), encoding="utf-8")
    with pytest.raises(AgreementError) as info:
        plan_agreement(agreement=str(good), today=TODAY)
    assert f"{good}:" in str(info.value) and "unknown party '渝中区'" in str(info.value)
    assert (_count(db_env, Occurrence), _count(db_env, LedgerEvent)) == before
