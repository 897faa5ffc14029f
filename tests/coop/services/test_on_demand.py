"""On-demand clauses: nothing planned; a coordinator opens one occurrence at a time, in the ledger, kept by re-plans."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from conftest import small_with_on_demand
from sqlalchemy import select

from coop.errors import CoopError, Forbidden
from coop.services.coordinators import Coordinator, coordinator_named, issue_coordinator_token
from coop.services.on_demand import EVENT_KIND, open_on_demand
from coop.services.planning import plan_agreement
from coop.settings import Settings
from models.db import session_scope
from models.tables import LedgerEvent, Notice, Occurrence

PLAN_DAY = dt.date(2026, 3, 1)


def _settings(db_url: str) -> Settings:
    return Settings(database_url=db_url, secret_key="test-secret-key-for-links-0123456789")  # type: ignore[arg-type]


def _write(tmp_path: Path, extra: str = "") -> Path:
    path = tmp_path / "small.yaml"
    path.write_text(small_with_on_demand(extra), encoding="utf-8")
    return path


@pytest.fixture
def chief(db_url: str, tmp_path: Path) -> Coordinator:
    plan_agreement(db_url, _write(tmp_path), PLAN_DAY, "测试", settings=_settings(db_url))
    issue_coordinator_token(db_url, "张协调", None)
    return coordinator_named(db_url, "张协调")


def _rows(db_url: str, clause_prefix: str) -> list[Occurrence]:
    with session_scope(db_url) as s:
        rows = s.execute(select(Occurrence).where(Occurrence.key.startswith(clause_prefix))).scalars()  # type: ignore[attr-defined]
        return sorted(rows, key=lambda o: o.key)


def test_plan_has_no_occurrence_until_one_is_opened_and_then_it_is_a_task(db_url: str, chief: Coordinator) -> None:
    assert _rows(db_url, "9.1@") == []
    day = dt.date(2026, 3, 5)
    opened = open_on_demand(
        db_url, chief, "test-small", "9.1", "长寿区/区委社会工作部", "两村土地纠纷，群众来访", today=day
    )
    assert (opened.key, opened.window_start, opened.due_date, opened.status) == (
        "9.1@2026-03-05",
        day,
        dt.date(2026, 3, 15),  # the clause's window_days: 10
        "due",
    )
    [occ] = _rows(db_url, "9.1@")
    assert (occ.id, occ.targets, occ.department_id) == (opened.occurrence_id, {"cases": 1}, opened.department_id)
    with session_scope(db_url) as s:
        [event] = s.execute(select(LedgerEvent).where(LedgerEvent.kind == EVENT_KIND)).scalars()
        assert event.occurrence_id == occ.id and event.actor == opened.actor and "张协调" in event.actor
        payload = json.loads(event.payload)
        assert payload["reason"] == "两村土地纠纷，群众来访"
        assert payload["department"] == "长寿区/区委社会工作部"
        notices = s.execute(select(Notice).where(Notice.occurrence_id == occ.id)).scalars().all()
        assert [(n.kind, n.department_id) for n in notices] == [("planned", opened.department_id)]
    again = open_on_demand(
        db_url, chief, "test-small", "9.1", "渝北区/团区委", "第二起", due_date=dt.date(2026, 3, 20), today=day
    )
    assert (again.key, again.due_date) == ("9.1@2026-03-05#2", dt.date(2026, 3, 20))


def test_a_replan_keeps_opened_occurrences(db_url: str, chief: Coordinator, tmp_path: Path) -> None:
    opened = open_on_demand(db_url, chief, "test-small", "9.1", "长寿区/区委社会工作部", "来访", today=PLAN_DAY)
    changed = _write(tmp_path).read_text(encoding="utf-8").replace("{suggestions: 20}", "{suggestions: 25}")
    path = tmp_path / "small.yaml"
    path.write_text(changed, encoding="utf-8")
    result = plan_agreement(db_url, path, dt.date(2026, 3, 2), "测试", settings=_settings(db_url))
    assert not result.result.unchanged and result.result.version == 2
    [occ] = _rows(db_url, "9.1@")
    assert (occ.id, str(occ.status), occ.due_date) == (opened.occurrence_id, "due", opened.due_date)


@pytest.mark.parametrize(
    ("clause", "department", "reason", "due", "error", "fragment"),
    [
        ("1.1", "长寿区/区委社会工作部", "x", None, CoopError, "不是按需开展条款"),
        ("9.9", "长寿区/区委社会工作部", "x", None, CoopError, "没有（有效的）条款 9.9"),
        ("9.1", "长寿区/区委社会工作部", " ", None, CoopError, "必须说明理由"),
        ("9.1", "长寿区/区委社会工作部", "x", dt.date(2026, 2, 1), CoopError, "早于发起日"),
        ("9.1", "长寿区/民政局", "x", None, Forbidden, "未知部门"),
    ],
)
def test_refusals_write_nothing(
    db_url: str,
    chief: Coordinator,
    clause: str,
    department: str,
    reason: str,
    due: dt.date | None,
    error: type[Exception],
    fragment: str,
) -> None:
    with pytest.raises(error, match=fragment):
        open_on_demand(db_url, chief, "test-small", clause, department, reason, due_date=due, today=PLAN_DAY)
    assert _rows(db_url, "9.1@") == []
    with session_scope(db_url) as s:
        assert s.execute(select(LedgerEvent).where(LedgerEvent.kind == EVENT_KIND)).first() is None
