"""Every flow run leaves something a coordinator can read: artifacts on success, a plain explanation on failure."""

from __future__ import annotations

import asyncio
import datetime as dt
import gc
import shutil
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from conftest import FIXTURES
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, FlowRunFilter, LogFilter
from prefect.logging.handlers import APILogHandler
from sqlalchemy import select

from coop.errors import AgreementError, CoopError
from flows.plan_agreement import plan_agreement, plan_all_agreements
from flows.record_completion import record_completion
from flows.sweep_overdue import sweep_overdue
from models.db import session_scope
from models.tables import Occurrence

pytestmark = pytest.mark.usefixtures("prefect_server")
TODAY = dt.date(2026, 3, 1)


def _run_id(state: Any) -> UUID:
    return state.state_details.flow_run_id


async def _artifacts(flow_run_ids: list[UUID]) -> list[Any]:
    async with get_client() as client:
        return await client.read_artifacts(artifact_filter=ArtifactFilter(flow_run_id={"any_": flow_run_ids}))


async def _logs(flow_run_id: UUID) -> list[str]:
    async with get_client() as client:
        logs = await client.read_logs(log_filter=LogFilter(flow_run_id={"any_": [flow_run_id]}))
        return [entry.message for entry in logs]


async def _children(parent_task_runs: UUID) -> list[UUID]:
    async with get_client() as client:
        runs = await client.read_flow_runs(
            flow_run_filter=FlowRunFilter(parent_flow_run_id={"any_": [parent_task_runs]})
        )
        return [r.id for r in runs]


def test_sweep_publishes_the_overdue_list(db_env: str) -> None:
    plan_agreement(agreement=str(FIXTURES / "small.yaml"), today=TODAY)
    state = sweep_overdue(today=dt.date(2026, 3, 20), return_state=True)
    assert state.result().became_overdue == 1  # the plan already marked the six due before TODAY
    [artifact] = [a for a in asyncio.run(_artifacts([_run_id(state)])) if a.key == "overdue-list"]
    assert "逾期清单（共 7 项）" in artifact.data and "测试合作协议" in artifact.data


def test_record_completion_publishes_what_was_recorded(db_env: str) -> None:
    plan_agreement(agreement=str(FIXTURES / "small.yaml"), today=TODAY)
    with session_scope(db_env) as s:
        oid = s.execute(select(Occurrence.id).where(Occurrence.key == "1.1@2026-03-31")).scalar_one()
    state = record_completion(
        occurrence_id=oid,
        department="渝北区/区委社会工作部",
        participants=30,
        metrics=[{"name": "participants", "value": 30}],
        return_state=True,
    )
    [artifact] = [a for a in asyncio.run(_artifacts([_run_id(state)])) if a.key == "completion-test-small"]
    assert f"# 完成情况已登记：任务 #{oid}" in artifact.data
    assert "| 当前状态 | 已完成 |" in artifact.data and "| participants | 30 | 50 |" in artifact.data


def test_plan_all_lists_every_agreement_and_explains_the_failed_one(db_env: str, tmp_path: Path) -> None:
    folder = tmp_path / "agreements"
    folder.mkdir()
    shutil.copy(FIXTURES / "small.yaml", folder / "a-good.yaml")
    (folder / "b-bad.yaml").write_text("id: bad\ntitle: [unclosed\n", encoding="utf-8")
    state = asyncio.run(plan_all_agreements(directory=str(folder), today=TODAY, return_state=True))
    # An API client the async engine left open (it did: flows/plan_agreement.py) is found here: a ResourceWarning,
    # an error in this suite.
    gc.collect()
    assert state.is_failed()
    with pytest.raises(CoopError, match="1 份协议计划失败（共 2 份）"):
        state.result()

    [index] = [a for a in asyncio.run(_artifacts([_run_id(state)])) if a.key == "plan-all-agreements"]
    assert "成功 **1** 份，失败 **1** 份" in index.data
    good, bad = (line for line in index.data.splitlines() if "a-good.yaml" in line or "b-bad.yaml" in line)
    assert f"{folder / 'a-good.yaml'}" in good and "第 1 版，已写入" in good
    assert f"{folder / 'b-bad.yaml'}" in bad and "**失败**" in bad and "b-bad.yaml:3: YAML 语法错误" in bad
    # One run with tasks over batches of files, not a subflow per agreement; the bad file is in its log too.
    assert asyncio.run(_children(_run_id(state))) == []
    APILogHandler().flush()  # logs reach the server in batches
    assert any("b-bad.yaml" in line and "协议文件有误" in line for line in asyncio.run(_logs(_run_id(state))))
    with session_scope(db_env) as session:
        assert session.execute(select(Occurrence.id)).first() is not None  # the good file was planned


def test_invalid_agreement_is_explained_in_the_run_log_and_an_artifact(db_env: str, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        (FIXTURES / "small.yaml")
        .read_text(encoding="utf-8")
        .replace("rotate: [渝北区, 长寿区, 广安市]", "rotate: [渝中区]"),
        encoding="utf-8",
    )
    state = plan_agreement(agreement=str(bad), today=TODAY, return_state=True)
    with pytest.raises(AgreementError) as info:
        state.result()
    problem = str(info.value.problems[0])
    APILogHandler().flush()  # logs reach the server in batches
    logs = asyncio.run(_logs(_run_id(state)))
    explained = [m for m in logs if m.startswith("协议文件有误（共 1 处），本次未写入任何数据：")]
    assert explained and f"  {problem}" in explained[0].splitlines()
    [artifact] = [a for a in asyncio.run(_artifacts([_run_id(state)])) if a.description == "运行失败原因"]
    assert "运行失败：协议文件有误" in artifact.data and "渝中区" in artifact.data
