"""Read-side queries behind the run artifacts, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

from conftest import FIXTURES
from sqlalchemy import select

from coop.agreement.loader import load_agreement
from coop.calendar import WorkdayCalendar
from coop.planning import calendar_fingerprint, expand
from coop.store.occurrences import sweep
from coop.store.plans import apply_plan
from coop.store.status import occurrence_detail, overdue, summarise
from models.db import session_scope
from models.tables import Occurrence

CAL = WorkdayCalendar()


def _plan_and_sweep(url: str, day: dt.date) -> None:
    loaded = load_agreement(FIXTURES / "small.yaml")
    with session_scope(url) as session:
        apply_plan(session, loaded, expand(loaded, CAL, 1000), dt.date(2025, 9, 1), "tester", calendar_fingerprint(CAL))
    with session_scope(url) as session:
        sweep(session, day, "tester")


def test_overdue_lists_the_longest_overdue_first_with_a_total(db_url: str) -> None:
    day = dt.date(2026, 3, 20)
    _plan_and_sweep(db_url, day)
    with session_scope(db_url) as session:
        expected = session.execute(
            select(Occurrence.id, Occurrence.due_date).where(Occurrence.status == "overdue")
        ).all()
        total, items = overdue(session, limit=3)
    assert total == len(expected) == 7
    assert [i.occurrence_id for i in items] == [oid for oid, _ in sorted(expected, key=lambda r: (r[1], r[0]))][:3]
    assert all(i.due_date < day and i.status == "overdue" and i.agreement_title == "测试合作协议" for i in items)


def test_occurrence_detail_names_agreement_clause_and_owner(db_url: str) -> None:
    _plan_and_sweep(db_url, dt.date(2025, 9, 1))
    with session_scope(db_url) as session:
        oid = session.execute(select(Occurrence.id).where(Occurrence.key == "1.1@2026-03-31")).scalar_one()
        found = occurrence_detail(session, oid)
        missing = occurrence_detail(session, oid + 10_000)
    assert found is not None and missing is None
    assert (found.agreement_id, found.clause, found.clause_title) == ("test-small", "1.1", "联合培训")
    assert (found.party, found.department, found.targets) == ("渝北区", "区委社会工作部", {"participants": 50})
    assert found.due_date == dt.date(2026, 3, 31) and found.status == "planned"


def test_summarise_counts_each_status_and_lists_what_is_due_next(db_url: str) -> None:
    day = dt.date(2026, 3, 20)
    _plan_and_sweep(db_url, day)
    with session_scope(db_url) as session:
        [summary] = summarise(session, day, upcoming=3)
    assert (summary.id, summary.programmes, summary.clauses, summary.occurrences) == ("test-small", 2, 3, 15)
    assert summary.by_status == {"due": 1, "overdue": 7, "planned": 7} and summary.provisional == 3
    assert [(d.due_date, d.status) for d in summary.next_due] == [
        (dt.date(2026, 3, 31), "due"),
        (dt.date(2026, 6, 30), "planned"),
        (dt.date(2026, 9, 10), "planned"),
    ]
