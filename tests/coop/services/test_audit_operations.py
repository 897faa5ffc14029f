"""Audits after coordinator operations and backfill: a stopped clock is not a failure, a past day is rebuilt honestly.

The ledger stamps events with the real clock; to place operations on chosen days the tests set that clock
(`coop.store.ledger.utcnow`), the one thing the rebuild reads time from.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from conftest import FIXTURES
from sqlalchemy import select

from coop.audit import summarise_states
from coop.services import backfill, operations
from coop.services.coordinators import Coordinator, coordinator_named, issue_coordinator_token
from coop.services.planning import plan_agreement
from coop.settings import Settings
from coop.store import ledger
from coop.store.audit import AuditFilter, OccurrenceState, occurrence_states
from models.db import session_scope
from models.tables import Occurrence

PLAN_DAY = dt.date(2026, 3, 1)
YUBEI = "渝北区/区委社会工作部"
SHANGHAI = dt.timezone(dt.timedelta(hours=8))

SetDay = Callable[[dt.date], None]


@pytest.fixture
def on_day(monkeypatch: pytest.MonkeyPatch) -> SetDay:
    def set_day(day: dt.date) -> None:
        moment = dt.datetime.combine(day, dt.time(10), SHANGHAI).astimezone(dt.UTC)
        monkeypatch.setattr(ledger, "utcnow", lambda: moment)

    return set_day


@pytest.fixture
def planned(db_url: str, on_day: SetDay) -> dict[str, int]:
    on_day(PLAN_DAY)
    settings = Settings(database_url=db_url, secret_key="test-secret-key-for-links-0123456789")  # type: ignore[arg-type]
    plan_agreement(db_url, FIXTURES / "small.yaml", PLAN_DAY, "测试", settings=settings)
    with session_scope(db_url) as s:
        return {o.key: o.id for o in s.execute(select(Occurrence)).scalars() if o.id is not None}


@pytest.fixture
def chief(db_url: str, planned: dict[str, int]) -> Coordinator:
    issue_coordinator_token(db_url, "张协调", None)
    return coordinator_named(db_url, "张协调")


def states(db_url: str, as_of: dt.date, *, from_ledger: bool = True) -> dict[int, OccurrenceState]:
    with session_scope(db_url) as s:
        return {st.id: st for st in occurrence_states(s, AuditFilter(), as_of, from_ledger=from_ledger)}


def test_a_suspended_task_past_its_due_date_is_not_overdue(
    db_url: str, planned: dict[str, int], chief: Coordinator, on_day: SetDay
) -> None:
    held, late = planned["1.1@2026-03-31"], planned["6.1@2026-03-10"]
    on_day(dt.date(2026, 3, 20))
    operations.suspend(db_url, chief, held, "汛期暂停", dt.date(2026, 3, 20))
    as_of = dt.date(2026, 4, 20)
    for from_ledger in (True, False):
        now = states(db_url, as_of, from_ledger=from_ledger)
        assert now[held].status == "suspended" and now[late].status == "overdue"
        summary = summarise_states(now.values(), as_of)
        listed = {item.occurrence_id for item in summary.overdue}
        assert late in listed and held not in listed
        assert summary.overall.suspended == 1
        # The stopped clock keeps it out of the expected base: expected = done + overdue still holds.
        assert summary.overall.expected == summary.overall.done + summary.overall.overdue
        assert summary.overall.as_dict()["suspended"] == 1
    # Before the suspension it was open, and a day before its due date, not overdue either.
    assert states(db_url, dt.date(2026, 3, 19))[held].status == "due"


def test_a_past_day_shows_the_due_date_and_department_before_later_operations(
    db_url: str, planned: dict[str, int], chief: Coordinator, on_day: SetDay
) -> None:
    moved, handed = planned["6.1@2026-03-10"], planned["1.1@2026-06-30"]
    on_day(dt.date(2026, 3, 5))
    operations.extend(db_url, chief, moved, dt.date(2026, 4, 10), "河道施工", dt.date(2026, 3, 5))
    operations.reassign(db_url, chief, handed, "长寿区/区委社会工作部", "轮值调整")
    on_day(dt.date(2026, 3, 12))
    operations.suspend(db_url, chief, moved, "汛期", dt.date(2026, 3, 12))
    on_day(dt.date(2026, 3, 22))
    operations.resume(db_url, chief, moved, "汛期结束", dt.date(2026, 3, 22))

    before = states(db_url, dt.date(2026, 3, 4))
    assert (before[moved].due_date, before[moved].status) == (dt.date(2026, 3, 10), "due")
    assert (before[handed].party, before[handed].department) == ("渝北区", "区委社会工作部")
    extended = states(db_url, dt.date(2026, 3, 8))
    assert extended[moved].due_date == dt.date(2026, 4, 10)
    assert (extended[handed].party, extended[handed].department) == ("长寿区", "区委社会工作部")
    assert states(db_url, dt.date(2026, 3, 15))[moved].status == "suspended"
    resumed = states(db_url, dt.date(2026, 3, 25))[moved]
    # Ten days suspended: the due date moved from 04-10 to 04-20; the window did not move with an operation.
    assert (resumed.due_date, resumed.status) == (dt.date(2026, 4, 20), "due")
    assert resumed.window_start == states(db_url, dt.date(2026, 3, 4))[moved].window_start


def test_a_backfilled_completion_counts_on_its_real_day(
    db_url: str, planned: dict[str, int], chief: Coordinator, on_day: SetDay
) -> None:
    early, late = planned["1.1@2025-12-31"], planned["1.1@2025-09-30"]
    on_day(dt.date(2026, 3, 2))
    backfill.record_completion_on(db_url, chief, early, YUBEI, dt.date(2025, 12, 20), participants=55, today=PLAN_DAY)
    backfill.record_completion_on(db_url, chief, late, YUBEI, dt.date(2025, 10, 9), participants=30, today=PLAN_DAY)
    now = states(db_url, dt.date(2026, 3, 10))
    assert (now[early].status, now[early].completed_on, now[early].on_time) == ("done", dt.date(2025, 12, 20), True)
    assert (now[late].completed_on, now[late].on_time) == (dt.date(2025, 10, 9), False)
    # 参与人数 feeds the clause's participants target.
    assert now[early].metrics == {"participants": 55}
    summary = summarise_states(now.values(), dt.date(2026, 3, 10))
    clause = {(g.clause, g.metric): g for g in summary.progress}[("1.1", "participants")]
    assert clause.reported == 85
    # The ledger tells what was known: the day before the import, both were still owed.
    assert states(db_url, dt.date(2026, 3, 1))[early].status == "overdue"
