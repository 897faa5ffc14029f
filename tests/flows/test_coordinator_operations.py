"""The coordinator-operation and backfill-completions flows on a temporary Prefect server, as the UI runs them."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from conftest_web import YUBEI, plan_small
from prefect.states import State

from coop.services.coordinators import issue_coordinator_token
from flows.coordinator_operations import OperationRequest, backfill_completions, coordinator_operation
from models.db import session_scope
from models.tables import LedgerEvent, Occurrence

pytestmark = pytest.mark.usefixtures("prefect_server")


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
