"""Backfill of past completions from a department's 台账: real dates, the importer named, all rows or none."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from conftest import FIXTURES
from openpyxl import Workbook
from sqlalchemy import func, select

from coop.errors import BackfillRefused, CoopError
from coop.services import backfill
from coop.services.coordinators import Coordinator, coordinator_named, issue_coordinator_token
from coop.services.planning import plan_agreement
from coop.settings import Settings
from models.db import session_scope
from models.tables import LedgerEvent, Occurrence, Report

PLAN_DAY = TODAY = dt.date(2026, 3, 1)
YUBEI = "渝北区/区委社会工作部"
TUANQUWEI = "渝北区/团区委"


@pytest.fixture
def planned(db_url: str) -> dict[str, int]:
    settings = Settings(database_url=db_url, secret_key="test-secret-key-for-links-0123456789")  # type: ignore[arg-type]
    plan_agreement(db_url, FIXTURES / "small.yaml", PLAN_DAY, "测试", settings=settings)
    with session_scope(db_url) as s:
        return {o.key: o.id for o in s.execute(select(Occurrence)).scalars() if o.id is not None}


@pytest.fixture
def chief(db_url: str, planned: dict[str, int]) -> Coordinator:
    issue_coordinator_token(db_url, "张协调", None)
    return coordinator_named(db_url, "张协调")


def counts(db_url: str) -> tuple[int, int]:
    with session_scope(db_url) as s:
        return (
            s.execute(select(func.count()).select_from(Report)).scalar_one(),
            s.execute(select(func.count()).select_from(LedgerEvent)).scalar_one(),
        )


def test_csv_ledger_imports_with_real_completion_dates(
    db_url: str, planned: dict[str, int], chief: Coordinator, tmp_path: Path
) -> None:
    ledger_file = tmp_path / "渝北台账.csv"
    ledger_file.write_text(
        "任务编号,协议,条款,日期,部门,完成日期,参与人数,指标,佐证材料,说明\n"
        f"{planned['1.1@2025-09-30']},,,,{YUBEI},2025-09-28,56,participants=56,https://example.org/a.pdf,九月培训\n"
        f",test-small,6.1,2025-09-10,{TUANQUWEI},2025/9/15,,,,净滩\n"
        ",,,,,,,,,\n",
        encoding="utf-8-sig",
    )
    result = backfill.import_file(db_url, chief, ledger_file, today=TODAY)
    assert (result.recorded, result.on_time) == (2, 1)
    with session_scope(db_url) as s:
        first = s.get(Occurrence, planned["1.1@2025-09-30"])
        late = s.get(Occurrence, planned["6.1@2025-09-10"])
        assert first is not None and late is not None
        assert (first.status, late.status) == ("done", "done")
        reports = {r.occurrence_id: r for r in s.execute(select(Report)).scalars()}
        events = list(s.execute(select(LedgerEvent).where(LedgerEvent.id.in_(result.event_ids))).scalars())  # type: ignore[attr-defined]
    shanghai = dt.timezone(dt.timedelta(hours=8))
    assert first.closed_at is not None and first.closed_at.astimezone(shanghai).date() == dt.date(2025, 9, 28)
    assert reports[planned["1.1@2025-09-30"]].participants == 56
    assert reports[planned["1.1@2025-09-30"]].at.astimezone(shanghai).date() == dt.date(2025, 9, 28)
    assert {e.actor for e in events} == {chief.actor}
    payloads = sorted((json.loads(e.payload) for e in events), key=lambda p: p["row"])
    assert [(p["backfill"], p["row"], p["completed_on"], p["on_time"]) for p in payloads] == [
        (True, 2, "2025-09-28", True),
        (True, 3, "2025-09-15", False),
    ]
    assert payloads[0]["source"] == "渝北台账.csv"


def test_xlsx_ledger_with_date_cells(db_url: str, planned: dict[str, int], chief: Coordinator, tmp_path: Path) -> None:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["协议", "条款", "日期", "部门", "完成日期"])
    sheet.append(["test-small", "1.1", dt.datetime(2025, 12, 31), YUBEI, dt.datetime(2025, 12, 20)])
    path = tmp_path / "台账.xlsx"
    book.save(path)
    result = backfill.import_file(db_url, chief, path, today=TODAY)
    assert result.occurrence_ids == [planned["1.1@2025-12-31"]] and result.on_time == 1


def test_a_bad_row_refuses_the_whole_file_with_row_numbers(
    db_url: str, planned: dict[str, int], chief: Coordinator, tmp_path: Path
) -> None:
    before = counts(db_url)
    path = tmp_path / "bad.csv"
    path.write_text(
        "任务编号,部门,完成日期\n"
        f"{planned['1.1@2025-09-30']},{YUBEI},2025-09-28\n"  # fine on its own
        f"{planned['6.1@2025-09-10']},{YUBEI},2025-09-12\n"  # another department's task
        f"{planned['1.1@2025-12-31']},{YUBEI},2025-13-01\n"  # not a date
        f"{planned['1.1@2026-06-30']},{YUBEI},2026-07-01\n"  # after today
        f"{planned['1.1@2025-09-30']},{YUBEI},2025-09-29\n",  # the same task twice
        encoding="utf-8",
    )
    with pytest.raises(BackfillRefused) as info:
        backfill.import_file(db_url, chief, path, today=TODAY)
    message = str(info.value)
    assert "没有写入任何记录" in message
    assert "第 4 行：完成日期“2025-13-01”不是日期" in message
    # Rows that parse are then checked against the database, and every problem is listed, by row.
    with pytest.raises(BackfillRefused) as second:
        path.write_text("\n".join(path.read_text(encoding="utf-8").splitlines()[:3] + ["", ""]), encoding="utf-8")
        backfill.import_file(db_url, chief, path, today=TODAY)
    assert "第 3 行：任务" in str(second.value) and "不属于 渝北区/区委社会工作部" in str(second.value)
    future = tmp_path / "future.csv"
    future.write_text(
        f"任务编号,部门,完成日期\n{planned['1.1@2025-09-30']},{YUBEI},2025-09-28\n"
        f"{planned['1.1@2026-06-30']},{YUBEI},2026-07-01\n{planned['1.1@2025-09-30']},{YUBEI},2025-09-29\n",
        encoding="utf-8",
    )
    with pytest.raises(BackfillRefused) as third:
        backfill.import_file(db_url, chief, future, today=TODAY)
    assert "第 3 行：完成日期 2026-07-01 晚于今天" in str(third.value)
    assert "第 4 行：任务" in str(third.value) and "与第 2 行重复" in str(third.value)
    assert counts(db_url) == before
    with session_scope(db_url) as s:
        assert s.get(Occurrence, planned["1.1@2025-09-30"]).status == "overdue"  # type: ignore[union-attr]


def test_missing_columns_and_wrong_format_are_explained(chief: Coordinator, db_url: str, tmp_path: Path) -> None:
    path = tmp_path / "cols.csv"
    path.write_text("编号,备注\n1,x\n", encoding="utf-8")
    with pytest.raises(BackfillRefused, match="缺少“部门”列"):
        backfill.import_file(db_url, chief, path, today=TODAY)
    other = tmp_path / "ledger.txt"
    other.write_text("x", encoding="utf-8")
    with pytest.raises(CoopError, match="只接受 .csv 或 .xlsx"):
        backfill.import_file(db_url, chief, other, today=TODAY)


def test_one_completion_with_its_date(db_url: str, planned: dict[str, int], chief: Coordinator) -> None:
    oid = planned["1.1@2025-12-31"]
    result = backfill.record_completion_on(
        db_url, chief, oid, YUBEI, dt.date(2026, 1, 5), participants=40, note="补录", today=PLAN_DAY
    )
    assert result.on_time == 0 and result.recorded == 1
    with session_scope(db_url) as s:
        event = s.get(LedgerEvent, result.event_ids[0])
    assert event is not None and event.actor == chief.actor
    assert json.loads(event.payload)["completed_on"] == "2026-01-05"


def test_untracked_history_moves_into_the_rates_when_backfilled(db_url: str, tmp_path: Path) -> None:
    """A task due before tracking_from is history until a 台账 row says it was done; then it counts, on its day."""
    taken_over = tmp_path / "small.yaml"
    text = (FIXTURES / "small.yaml").read_text(encoding="utf-8")
    taken_over.write_text(text.replace("term:\n", "tracking_from: 2026-01-01\nterm:\n"), encoding="utf-8")
    settings = Settings(database_url=db_url, secret_key="test-secret-key-for-links-0123456789")  # type: ignore[arg-type]
    plan_agreement(db_url, taken_over, PLAN_DAY, "测试", settings=settings)
    issue_coordinator_token(db_url, "张协调", None)
    chief = coordinator_named(db_url, "张协调")
    with session_scope(db_url) as s:
        ids = {o.key: o.id for o in s.execute(select(Occurrence)).scalars() if o.id is not None}
        history = s.get(Occurrence, ids["1.1@2025-12-31"])
        assert history is not None and history.status == "untracked"

    result = backfill.record_completion_on(
        db_url, chief, ids["1.1@2025-12-31"], YUBEI, dt.date(2025, 12, 30), participants=52, today=TODAY
    )
    assert result.on_time == 1
    with session_scope(db_url) as s:
        done = s.get(Occurrence, ids["1.1@2025-12-31"])
        [report] = s.execute(select(Report).where(Report.occurrence_id == ids["1.1@2025-12-31"])).scalars()
        event = s.get(LedgerEvent, result.event_ids[0])
    assert done is not None and done.status == "done"
    assert report.metrics == {"participants": 52}
    assert event is not None and json.loads(event.payload)["previous_status"] == "untracked"
    # A closed task is still refused, with its status in Chinese.
    with pytest.raises(BackfillRefused, match="已完成"):
        backfill.record_completion_on(db_url, chief, ids["1.1@2025-12-31"], YUBEI, dt.date(2025, 12, 30), today=TODAY)
