"""`refresh_calendar`: new official 2027 data re-plans only what is open and due from today — SQLite and PostgreSQL.

The test swaps the overrides file for one carrying the "published" 2027 notice (extra holidays, make-up workdays,
`official: [2027]`) and checks exactly the occurrences on the new holidays/workdays from today on move, nothing
before today moves, the provisional flag clears from today on, and each department gets one digest.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from sqlalchemy import select

from coop.agreement.loader import parse_agreement
from coop.calendar import WorkdayCalendar
from coop.services.calendar_refresh import refresh_calendar
from coop.services.notifications import batch_notices
from coop.services.planning import calendar_version, expand_checked
from coop.settings import Settings
from coop.store.ledger import verify
from coop.store.plans import apply_plan
from models.db import session_scope
from models.tables import AgreementRecord, Department, Occurrence, OutboxMessage

AGREEMENT = """\
id: cal-refresh
title: 日历更新测试协议
signed: 2026-01-01
term: {start: 2026-01-01, end: 2027-12-31}
parties:
  - name: 渝北区
    coordinator: 区委社会工作部
    departments:
      - name: 区委社会工作部
        channels: [yubei-swd-wecom]
  - name: 长寿区
    coordinator: 区委社会工作部
    departments:
      - name: 区委社会工作部
        channels: [changshou-swd-wecom]
programmes:
  - id: "1"
    title: 测试工程
    clauses:
      - id: 1.1
        title: 月度例会
        kind: meeting
        responsible: {each_party: true}
        recurrence: {rrule: "FREQ=MONTHLY;BYMONTHDAY=10", adjust: next}
"""
OLD = "holidays: []\n"
# The "published" 2027 notice: Feb 11-12 bridge days, and (for the test) 10 Mar, 10 Jun and 10 Nov off, 10 Jan and
# 10 Apr (a Sunday and a Saturday) worked.
NEW = """\
official: [2027]
holidays: [2027-02-11, 2027-02-12, 2027-03-10, 2027-06-10, 2027-11-10]
workdays: [2027-01-10, 2027-04-10]
"""
PLANNED_ON = dt.date(2026, 12, 1)
TODAY = dt.date(2027, 3, 1)


def _settings(tmp_path: Path, name: str, text: str, db_url: str) -> Settings:
    overrides = tmp_path / name
    overrides.write_text(text, encoding="utf-8")
    return Settings(database_url=db_url, calendar_overrides=overrides)


def _occurrences(db_url: str) -> dict[tuple[str, int], tuple[dt.date, bool, str]]:
    with session_scope(db_url) as session:
        rows = session.execute(
            select(
                Occurrence.key, Occurrence.department_id, Occurrence.due_date, Occurrence.provisional, Occurrence.status
            )
        ).all()
    return {(k, d): (due, prov, str(status)) for k, d, due, prov, status in rows}


def test_new_2027_data_moves_exactly_the_future_occurrences_on_new_holidays(db_url: str, tmp_path: Path) -> None:
    old = _settings(tmp_path, "old.yaml", OLD, db_url)
    new = _settings(tmp_path, "new.yaml", NEW, db_url)
    loaded = parse_agreement(AGREEMENT, "cal-refresh.yaml")
    with session_scope(db_url) as session:
        apply_plan(
            session,
            loaded,
            expand_checked(loaded, old, WorkdayCalendar(old.calendar_overrides)),
            PLANNED_ON,
            "协调员张三",
            calendar_version(loaded, old, WorkdayCalendar(old.calendar_overrides)),
        )
        batch_notices(session, PLANNED_ON)  # the first plan's own notices are told; what follows is the refresh's
    before = _occurrences(db_url)
    assert all(prov == (due.year == 2027) for due, prov, _ in before.values())

    unchanged = refresh_calendar(db_url, TODAY, old)
    assert unchanged.checked == 1 and unchanged.refreshed == []

    run = refresh_calendar(db_url, TODAY, new)
    assert [r.agreement_id for r in run.refreshed] == ["cal-refresh"] and not run.failed
    after = _occurrences(db_url)
    assert after.keys() == before.keys()
    moved = {k: (before[k][0], after[k][0]) for k in before if before[k][0] != after[k][0]}
    # Jan (10 Jan now a workday) and Feb (11-12 Feb now off) would move too, but they are due before today.
    assert len(moved) == 8
    assert {(b, a) for b, a in moved.values()} == {
        (dt.date(2027, 3, 10), dt.date(2027, 3, 11)),
        (dt.date(2027, 4, 12), dt.date(2027, 4, 10)),
        (dt.date(2027, 6, 10), dt.date(2027, 6, 11)),
        (dt.date(2027, 11, 10), dt.date(2027, 11, 11)),
    }
    for key, (due, prov, status) in after.items():
        was_due, was_prov, _ = before[key]
        if was_due < TODAY:
            assert (due, prov) == (was_due, was_prov), key  # history: neither moved nor re-flagged
        else:
            assert prov is False, key  # official data now exists for every future occurrence
        assert status != "cancelled"
    assert run.moved == 8
    assert run.provisional_cleared == sum(1 for d, p, _ in before.values() if p and d >= TODAY)
    assert "2027-03-10 → 2027-03-11" in "\n".join(run.lines())

    # One digest per department, listing its moved dates, the far ones (Jun, Nov) beyond the horizon included.
    assert run.notified is not None
    with session_scope(db_url) as session:
        messages = session.execute(select(OutboxMessage.department_id, OutboxMessage.body)).all()
        departments = set(session.execute(select(Department.id)).scalars())
        stored_version = session.execute(select(AgreementRecord.calendar_version)).scalar_one()
        assert verify(session).ok
    refreshed = [body for _, body in messages if "3月11日" in body]
    assert sorted(d for d, body in messages if "3月11日" in body) == sorted(departments)
    for body in refreshed:
        for day in ("3月11日", "4月10日", "6月11日", "11月11日"):
            assert day in body
    assert stored_version == calendar_version(loaded, new, WorkdayCalendar(new.calendar_overrides))

    again = refresh_calendar(db_url, TODAY, new)
    assert again.refreshed == [] and again.notified is None
