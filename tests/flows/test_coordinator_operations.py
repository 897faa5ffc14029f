"""The coordinator-operation and backfill-completions flows on a temporary Prefect server, as the UI runs them."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from pathlib import Path

import pytest
from conftest import small_with_on_demand
from conftest_web import YUBEI, plan_small
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter
from prefect.states import State
from sqlalchemy import select
from sqlmodel import col

from coop.labels import status_label
from coop.services.coordinators import issue_coordinator_token
from coop.services.on_demand import EVENT_KIND
from coop.services.planning import plan_agreement
from coop.settings import Settings
from flows.coordinator_operations import OperationRequest, backfill_completions, coordinator_operation
from models.db import session_scope
from models.tables import LedgerEvent, Occurrence

pytestmark = pytest.mark.usefixtures("prefect_server")


async def _artifact_texts(state: State) -> list[str]:
    async with get_client() as client:
        artifacts = await client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id={"any_": [state.state_details.flow_run_id]})
        )
    return [str(a.data) for a in artifacts]


def test_operation_flow_records_the_named_coordinator(db_env: str) -> None:
    ids = plan_small(db_env)
    issued = issue_coordinator_token(db_env, "张协调", None)
    oid = ids["1.1@2026-06-30"]
    request = OperationRequest(operation="extend", occurrence_id=oid, reason="场地改造", due_date=dt.date(2026, 7, 31))
    result = coordinator_operation("张协调", request)
    assert result.due_date == dt.date(2026, 7, 31)
    with session_scope(db_env) as s:
        event = s.get(LedgerEvent, result.event_id)
        assert s.get(Occurrence, oid).due_date == dt.date(2026, 7, 31)  # type: ignore[union-attr]
    assert event is not None and event.actor == f"张协调（协调人令牌 #{issued.id}）"
    assert json.loads(event.payload)["reason"] == "场地改造"

    refused: State = coordinator_operation(  # type: ignore[assignment]
        "无令牌的人", request.model_copy(update={"operation": "suspend"}), return_state=True
    )
    assert refused.is_failed() and "没有协调人“无令牌的人”的有效令牌" in str(refused.message) + str(
        refused.result(raise_on_failure=False)
    )


def test_backfill_flow_imports_a_csv(db_env: str, tmp_path: Path) -> None:
    ids = plan_small(db_env)
    issue_coordinator_token(db_env, "张协调", None)
    path = tmp_path / "台账.csv"
    path.write_text(f"任务编号,部门,完成日期\n{ids['1.1@2025-09-30']},{YUBEI},2025-09-29\n", encoding="utf-8")
    result = backfill_completions("张协调", str(path), today=dt.date(2026, 3, 1))
    assert (result.recorded, result.on_time) == (1, 1)
    with session_scope(db_env) as s:
        assert s.get(Occurrence, ids["1.1@2025-09-30"]).status == "done"  # type: ignore[union-attr]


def test_operation_flow_opens_an_on_demand_task(db_env: str, tmp_path: Path) -> None:
    path = tmp_path / "small.yaml"
    path.write_text(small_with_on_demand(), encoding="utf-8")
    settings = Settings(database_url=db_env, secret_key="test-secret-key-for-links-0123456789")  # type: ignore[arg-type]
    plan_agreement(db_env, path, dt.date(2026, 3, 1), "测试", settings=settings)
    issued = issue_coordinator_token(db_env, "张协调", None)
    # As the form sends it: ISO dates, and the fields this operation does not use left out.
    request = coordinator_operation.validate_parameters(
        {
            "coordinator": "张协调",
            "request": {
                "operation": "open",
                "agreement": "test-small",
                "clause": "9.1",
                "department": "长寿区/区委社会工作部",
                "reason": "两村土地纠纷，群众来访",
                "today": "2026-03-05",
            },
        }
    )["request"]
    assert (request.occurrence_id, request.due_date) == (None, None)
    state: State = coordinator_operation("张协调", request, return_state=True)
    opened = state.result()
    assert (opened.window_start, opened.due_date, opened.status) == (dt.date(2026, 3, 5), dt.date(2026, 3, 15), "due")
    with session_scope(db_env) as s:
        occ = s.get(Occurrence, opened.occurrence_id)
        assert occ is not None and occ.key == "9.1@2026-03-05"
        [event] = s.execute(select(LedgerEvent).where(col(LedgerEvent.kind) == EVENT_KIND)).scalars()
    assert event.actor == f"张协调（协调人令牌 #{issued.id}）" and event.occurrence_id == opened.occurrence_id
    assert json.loads(event.payload)["reason"] == "两村土地纠纷，群众来访"
    [artifact] = asyncio.run(_artifact_texts(state))
    assert f"# 协调人操作：发起按需任务 #{opened.occurrence_id}（9.1@2026-03-05）" in artifact
    assert "协议 test-small 条款 9.1，承办部门：长寿区/区委社会工作部" in artifact
    assert (
        f"办理期：2026-03-05 至 2026-03-15，状态：{status_label('due')}" in artifact
        and "理由：两村土地纠纷，群众来访" in artifact
    )

    # A due date of the coordinator's choosing; the same clause the same day is a second task.
    again = coordinator_operation("张协调", request.model_copy(update={"due_date": dt.date(2026, 4, 30)}))
    assert (again.key, again.due_date) == ("9.1@2026-03-05#2", dt.date(2026, 4, 30))

    # A clause with a plan is refused in Chinese, and so is a form without the clause.
    for update, expected in [
        ({"clause": "1.1"}, "条款 1.1 不是按需开展条款"),
        ({"clause": " "}, "发起按需任务须填写条款"),
        ({"operation": "extend"}, "请填写任务编号"),
    ]:
        refused: State = coordinator_operation("张协调", request.model_copy(update=update), return_state=True)
        assert refused.is_failed() and expected in str(refused.message), (update, refused.message)
