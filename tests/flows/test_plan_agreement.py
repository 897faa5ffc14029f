"""The real Prefect flows on a temporary Prefect server, against SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest
from conftest import FIXTURES
from prefect.client.orchestration import get_client
from sqlalchemy import func, inspect, select

from coop.errors import AgreementError, SchemaOutdated
from coop.settings import get_settings
from flows.plan_agreement import plan_agreement
from flows.record_completion import record_completion
from flows.sweep_overdue import sweep_overdue
from models.db import get_engine, session_scope
from models.tables import LedgerEvent, Occurrence

pytestmark = pytest.mark.usefixtures("prefect_server")
TODAY = dt.date(2026, 3, 1)


def _count(url: str, table: type) -> int:
    with session_scope(url) as s:
        return s.execute(select(func.count()).select_from(table)).scalar_one()


def test_plan_record_sweep_through_flows(db_env: str) -> None:
    first = plan_agreement(agreement=str(FIXTURES / "small.yaml"), today=TODAY)
    assert first.created == 15
    planned_events = _count(db_env, LedgerEvent)  # the plan, and its statuses brought up to date as of TODAY
    again = plan_agreement(agreement=str(FIXTURES / "small.yaml"), today=TODAY)
    assert again.unchanged and _count(db_env, LedgerEvent) == planned_events
    with session_scope(db_env) as s:
        oid = s.execute(select(Occurrence.id).where(Occurrence.key == "1.1@2026-03-31")).scalar_one()
    event_id = record_completion(
        occurrence_id=oid,
        department="渝北区/区委社会工作部",
        outcome="部分完成",
        participants=30,
        metrics=[{"name": "参与人数", "value": 30}],  # the form's rows; a Chinese label names the metric too
    )
    assert event_id == planned_events + 1
    swept = sweep_overdue(today=dt.date(2026, 3, 20))
    assert swept.became_overdue == 1  # 6.1@2026-03-10; the plan already marked the six due before TODAY


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
    # The run page's first line is the Chinese explanation with file:line, the technical detail below it.
    failed = plan_agreement(agreement=str(good), today=TODAY, return_state=True)
    assert failed.is_failed() and failed.message.startswith("协议文件有误（共 1 处），本次未写入任何数据：\n"), (
        failed.message
    )
    first_problem = failed.message.splitlines()[1].strip()
    assert first_problem.startswith(f"{good}:") and "渝中区" in first_problem
    assert "技术细节：AgreementError" in failed.message and "Traceback" not in failed.message
    assert (_count(db_env, Occurrence), _count(db_env, LedgerEvent)) == before


@pytest.mark.usefixtures("db_env")  # it clears the cached settings again afterwards
def test_a_flow_on_a_database_behind_the_code_stops_in_chinese_and_migrates_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'never-upgraded.db'}"
    # Flows read the database from the settings (never a form field): point them at one never upgraded.
    monkeypatch.setenv("COOP_DATABASE_URL", url)
    get_settings.cache_clear()
    with pytest.raises(SchemaOutdated, match="数据库结构版本落后，请先运行 coop db upgrade"):
        plan_agreement(agreement=str(FIXTURES / "small.yaml"), today=TODAY)
    assert inspect(get_engine(url)).get_table_names() == []  # migrating is `coop db upgrade`'s job, not a flow's
