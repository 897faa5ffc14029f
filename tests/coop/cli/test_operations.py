"""`coop op …` in-process: the named coordinator acts, a stranger gets a Chinese error and exit 2, never a traceback."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from conftest import FIXTURES
from sqlalchemy import select
from typer.testing import CliRunner

from coop.cli import app
from coop.services.planning import plan_agreement
from coop.settings import Settings
from models.db import session_scope
from models.tables import LedgerEvent, Occurrence

runner = CliRunner()
YUBEI = "渝北区/区委社会工作部"


def _plan(db_url: str) -> dict[str, int]:
    settings = Settings(database_url=db_url, secret_key="test-secret-key-for-links-0123456789")  # type: ignore[arg-type]
    plan_agreement(db_url, FIXTURES / "small.yaml", dt.date(2026, 3, 1), "测试", settings=settings)
    with session_scope(db_url) as s:
        return {o.key: o.id for o in s.execute(select(Occurrence)).scalars() if o.id is not None}


def test_coordinator_commands(db_env: str, tmp_path: Path) -> None:
    ids = _plan(db_env)
    issued = runner.invoke(app, ["op", "token", "issue", "张协调"])
    assert issued.exit_code == 0, issued.output
    assert "协调人令牌 #" in issued.output and issued.output.strip().splitlines()[-1].startswith("coop_")
    again = runner.invoke(app, ["op", "token", "issue", "李冒名"])
    assert again.exit_code == 2 and "已有具名协调人" in again.output

    oid = ids["1.1@2026-06-30"]
    args = ["op", "suspend", str(oid), "--reason", "汛期", "--today", "2026-03-20"]
    stranger = runner.invoke(app, [*args, "--by", "无名氏"])
    assert stranger.exit_code == 2 and "没有协调人“无名氏”的有效令牌" in stranger.output
    assert "Traceback" not in stranger.output
    done = runner.invoke(app, [*args, "--by", "张协调"])
    assert done.exit_code == 0, done.output
    assert "已暂停" in done.output
    resumed = runner.invoke(
        app,
        ["op", "resume", str(oid), "--reason", "汛期结束", "--today", "2026-03-30"],
        env={"COOP_COORDINATOR": "张协调"},
    )
    assert resumed.exit_code == 0, resumed.output
    with session_scope(db_env) as s:
        occ = s.get(Occurrence, oid)
        actors = {e.actor for e in s.execute(select(LedgerEvent).where(LedgerEvent.occurrence_id == oid)).scalars()}
    assert occ is not None and occ.due_date == dt.date(2026, 7, 10)
    assert actors == {"张协调（协调人令牌 #1）"}

    ledger = tmp_path / "台账.csv"
    ledger.write_text(f"任务编号,部门,完成日期\n{ids['1.1@2025-09-30']},{YUBEI},2025-09-29\n", encoding="utf-8")
    backfilled = runner.invoke(app, ["op", "backfill", str(ledger), "--by", "张协调", "--today", "2026-03-01"])
    assert backfilled.exit_code == 0 and "已补录 1 项" in backfilled.output
    bad = tmp_path / "bad.csv"
    bad.write_text(f"任务编号,部门,完成日期\n{ids['1.1@2025-12-31']},{YUBEI},昨天\n", encoding="utf-8")
    refused = runner.invoke(app, ["op", "backfill", str(bad), "--by", "张协调", "--today", "2026-03-01"])
    assert refused.exit_code == 2 and "第 2 行" in refused.output and "没有写入任何记录" in refused.output


def test_done_on_a_past_day_is_a_named_coordinators_backfill(db_env: str) -> None:
    ids = _plan(db_env)
    assert runner.invoke(app, ["op", "token", "issue", "张协调"]).exit_code == 0
    oid = ids["1.1@2025-12-31"]
    args = ["done", str(oid), "--department", YUBEI, "--on", "2025-12-28", "--participants", "40"]
    anonymous = runner.invoke(app, [*args, "--today", "2026-03-01"], env={"COOP_COORDINATOR": ""})
    assert anonymous.exit_code == 2 and "具名协调人" in anonymous.output and "Traceback" not in anonymous.output
    partial = runner.invoke(app, [*args, "--outcome", "partial", "--by", "张协调", "--today", "2026-03-01"])
    assert partial.exit_code == 2 and "只能补录已完成" in partial.output
    future = runner.invoke(app, [*args[:4], "--on", "2026-03-05", "--by", "张协调", "--today", "2026-03-01"])
    assert future.exit_code == 2 and "晚于今天" in future.output

    result = runner.invoke(app, [*args, "--today", "2026-03-01"], env={"COOP_COORDINATOR": "张协调"})
    assert result.exit_code == 0, result.output
    assert f"已补录：任务 #{oid} 于 2025-12-28 完成（按时" in result.output
    with session_scope(db_env) as s:
        occ = s.get(Occurrence, oid)
        [event] = s.execute(select(LedgerEvent).where(LedgerEvent.occurrence_id == oid)).scalars()
    assert occ is not None and occ.status == "done"
    assert event.actor == "张协调（协调人令牌 #1）"
    payload = json.loads(event.payload)
    assert (payload["backfill"], payload["completed_on"], payload["source"]) == (True, "2025-12-28", "coop done --on")
