"""`coop op open`: a named coordinator opens an on-demand occurrence; it is in the ledger and in `coop audit rates`."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from conftest import small_with_on_demand
from sqlalchemy import select
from typer.testing import CliRunner

from coop.cli import app
from coop.services.on_demand import EVENT_KIND
from coop.services.planning import plan_agreement
from coop.settings import Settings
from models.db import session_scope
from models.tables import LedgerEvent, Occurrence

runner = CliRunner()
CHANGSHOU = "长寿区/区委社会工作部"

LATER_CLAUSE = """
      - id: "9.2"
        title: 调处工作总结
        kind: report
        responsible: {party: 长寿区}
        recurrence: {once: 2026-06-30}
"""


def _plan(db_url: str, tmp_path: Path) -> None:
    path = tmp_path / "small.yaml"
    path.write_text(small_with_on_demand(), encoding="utf-8")
    settings = Settings(database_url=db_url, secret_key="test-secret-key-for-links-0123456789")  # type: ignore[arg-type]
    plan_agreement(db_url, path, dt.date(2026, 3, 1), "测试", settings=settings)
    assert runner.invoke(app, ["op", "token", "issue", "张协调"]).exit_code == 0


def _opened(db_url: str) -> list[Occurrence]:
    with session_scope(db_url) as s:
        return list(s.execute(select(Occurrence).where(Occurrence.key.startswith("9.1@"))).scalars())  # type: ignore[attr-defined]


def test_open_lands_in_the_ledger_and_the_rates(db_env: str, tmp_path: Path) -> None:
    _plan(db_env, tmp_path)
    args = ["op", "open", "test-small", "9.1", "--department", CHANGSHOU, "--reason", "两村土地纠纷"]
    opened = runner.invoke(app, [*args, "--due", "2026-03-10", "--by", "张协调", "--today", "2026-03-05"])
    assert opened.exit_code == 0, opened.output
    assert "已发起任务 #" in opened.output and "9.1@2026-03-05" in opened.output and "2026-03-10" in opened.output
    [occ] = _opened(db_env)
    assert (occ.window_start, occ.due_date, str(occ.status)) == (dt.date(2026, 3, 5), dt.date(2026, 3, 10), "due")
    with session_scope(db_env) as s:
        [event] = s.execute(select(LedgerEvent).where(LedgerEvent.kind == EVENT_KIND)).scalars()
    assert event.occurrence_id == occ.id and event.actor == "张协调（协调人令牌 #1）"
    assert json.loads(event.payload)["reason"] == "两村土地纠纷"

    # Due 2026-03-10 and never reported: today (the ledger's real time, rebuilt from it) it is owed and not done.
    rates = runner.invoke(app, ["audit", "rates", "--clause", "9.1", "--by", "agreement"])
    assert rates.exit_code == 0, rates.output
    [row] = [line for line in rates.output.splitlines() if "test-small" in line]
    cells = [c.strip() for c in row.split("│") if c.strip()]
    assert cells[1:4] == ["1", "1", "0"], rates.output  # 任务、应完成、已完成
    verified = runner.invoke(app, ["audit", "verify"])
    assert verified.exit_code == 0, verified.output

    # A later plan creates rows after the opened one: the ledger still accounts for every row, opened or planned.
    path = tmp_path / "small.yaml"
    path.write_text(path.read_text(encoding="utf-8") + LATER_CLAUSE, encoding="utf-8")
    settings = Settings(database_url=db_env, secret_key="test-secret-key-for-links-0123456789")  # type: ignore[arg-type]
    plan_agreement(db_env, path, dt.date(2026, 3, 6), "测试", settings=settings)
    with session_scope(db_env) as s:
        stored = len(s.execute(select(Occurrence.id)).all())
    rates = runner.invoke(app, ["audit", "rates", "--agreement", "test-small"])
    [total] = [line for line in rates.output.splitlines() if "test-small" in line]
    assert [c.strip() for c in total.split("│") if c.strip()][1] == str(stored), rates.output
    later = runner.invoke(app, ["audit", "rates", "--clause", "9.2"])
    [row] = [line for line in later.output.splitlines() if "test-small" in line]
    assert [c.strip() for c in row.split("│") if c.strip()][1] == "1", later.output
    verified = runner.invoke(app, ["audit", "verify"])
    assert verified.exit_code == 0, verified.output


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        (["--clause", "1.1"], "不是按需开展条款"),
        (["--clause", "9.9"], "没有（有效的）条款 9.9"),
        (["--due", "2026-03-01"], "早于发起日"),
        (["--today", "2027-08-20", "--due", "2027-09-10"], "晚于协议期结束日 2027-08-31"),
        (["--today", "2027-09-01"], "不在协议期 2025-09-01 – 2027-08-31 内"),
        (["--department", "长寿区/民政局"], "未知部门"),
        (["--by", "无名氏"], "没有协调人“无名氏”的有效令牌"),
        (["--agreement", "no-such"], "未知协议 'no-such'"),
        (["--due", "2026/3/10"], "2026/3/10"),
    ],
)
def test_bad_input_is_a_chinese_error_and_writes_nothing(
    db_env: str, tmp_path: Path, extra: list[str], fragment: str
) -> None:
    _plan(db_env, tmp_path)
    values = {
        "--agreement": "test-small",
        "--clause": "9.1",
        "--department": CHANGSHOU,
        "--by": "张协调",
        "--today": "2026-03-05",
    }
    values.update(dict(zip(extra[::2], extra[1::2], strict=True)))
    args = ["op", "open", values.pop("--agreement"), values.pop("--clause"), "--reason", "来访"]
    for option, value in values.items():
        args += [option, value]
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert fragment in result.output and "Traceback" not in result.output
    assert _opened(db_env) == []
