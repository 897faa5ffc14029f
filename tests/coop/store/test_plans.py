"""Planning into a real database (SQLite and PostgreSQL): idempotence, amendments, atomicity."""

from __future__ import annotations

import datetime as dt

import pytest
from conftest import FIXTURES
from sqlalchemy import func, select, text

from coop.agreement.loader import parse_agreement
from coop.calendar import WorkdayCalendar
from coop.planning import calendar_fingerprint, expand
from coop.store.ledger import verify
from coop.store.occurrences import CompletionReport, record_completion
from coop.store.plans import PlanResult, apply_plan
from models.db import get_engine, session_scope
from models.tables import LedgerEvent, Occurrence

CAL = WorkdayCalendar()
TODAY = dt.date(2026, 3, 1)
SMALL = (FIXTURES / "small.yaml").read_text(encoding="utf-8")
TABLES = ["agency", "department", "agreement", "agreement_version", "programme", "clause", "occurrence", "ledger_event"]


def plan(url: str, text_: str = SMALL, today: dt.date = TODAY) -> PlanResult:
    loaded = parse_agreement(text_, "small.yaml")
    with session_scope(url) as session:
        return apply_plan(session, loaded, expand(loaded, CAL, 1000), today, "tester", calendar_fingerprint(CAL))


def snapshot(url: str) -> dict[str, list[tuple[object, ...]]]:
    with get_engine(url).connect() as conn:
        return {t: sorted(map(tuple, conn.execute(text(f"SELECT * FROM {t}")).all()), key=repr) for t in TABLES}


def test_first_plan_writes_occurrences_and_one_ledger_event(db_url: str) -> None:
    result = plan(db_url)
    assert (result.created, result.version, result.unchanged) == (15, 1, False)
    with session_scope(db_url) as s:
        assert s.execute(select(func.count()).select_from(Occurrence)).scalar_one() == 15
        events = s.execute(select(LedgerEvent)).scalars().all()
        assert [e.kind for e in events] == ["agreement_planned"]
        assert verify(s).ok


def test_replan_unchanged_writes_nothing(db_url: str) -> None:
    plan(db_url)
    before = snapshot(db_url)
    result = plan(db_url, today=TODAY + dt.timedelta(days=30))
    assert result.unchanged and result.created == result.updated == result.cancelled == 0
    assert snapshot(db_url) == before


def test_amendment_replans_future_keeps_done_and_cancels_removed_clause(db_url: str) -> None:
    plan(db_url)
    with session_scope(db_url) as s:
        done_id = s.execute(select(Occurrence.id).where(Occurrence.key == "1.1@2025-12-31")).scalar_one()
        record_completion(
            s,
            CompletionReport(done_id, "渝北区/区委社会工作部", participants=45, metrics={"participants": 45}),
            "渝北区",
        )
    amended = SMALL.replace("rotate: [渝北区, 长寿区, 广安市]", "rotate: [长寿区, 渝北区, 广安市]")
    removed = amended[: amended.index('  - id: "6"')]
    result = plan(db_url, removed)
    assert result.version == 2
    assert result.cancelled == 4  # 6.1 had four open occurrences
    assert result.created == 0
    with session_scope(db_url) as s:
        rows = {o.key: o for o in s.execute(select(Occurrence)).scalars()}
        assert rows["1.1@2025-12-31"].status == "done" and rows["1.1@2025-12-31"].host == "长寿区"  # done: untouched
        assert rows["1.1@2025-09-30"].host == "渝北区"  # past open: history, untouched
        future = [o for o in rows.values() if o.key.startswith("1.1@") and o.due_date >= TODAY]
        assert future and result.updated == sum(1 for o in future if o.version == 2)
        assert all(o.status == "cancelled" for k, o in rows.items() if k.startswith("6.1@"))
        reasons = [
            e.payload
            for e in s.execute(select(LedgerEvent).where(LedgerEvent.kind == "occurrence_cancelled")).scalars()
        ]
        assert len(reasons) == 4 and all("条款已从协议中删除" in r for r in reasons)
        assert verify(s).ok
    # and planning the amended text again is a no-op
    assert plan(db_url, removed).unchanged


def test_reverting_to_an_earlier_text_does_not_invent_a_version(db_url: str) -> None:
    plan(db_url)
    plan(db_url, SMALL.replace("targets: {participants: 50}", "targets: {participants: 60}"))
    result = plan(db_url)
    assert result.version == 2 and not result.unchanged


def test_failure_mid_plan_leaves_database_unchanged(db_url: str) -> None:
    plan(db_url)
    before = snapshot(db_url)
    amended = parse_agreement(SMALL.replace("targets: {participants: 50}", "targets: {participants: 70}"), "small.yaml")
    planned = expand(amended, CAL, 1000)
    broken = planned + [type(planned[0])(**{**planned[0].__dict__, "key": "9.9@2026-01-01", "clause": "9.9"})]
    with pytest.raises(KeyError), session_scope(db_url) as session:
        apply_plan(session, amended, broken, TODAY, "tester", calendar_fingerprint(CAL))
    assert snapshot(db_url) == before


def test_each_party_occurrences_belong_to_each_party(db_url: str) -> None:
    plan(db_url)
    with get_engine(db_url).connect() as conn:
        owners = (
            conn.execute(
                text(
                    "SELECT a.name FROM occurrence o JOIN department d ON d.id = o.department_id "
                    "JOIN agency a ON a.id = d.agency_id WHERE o.key LIKE '1.2@%' ORDER BY a.name"
                )
            )
            .scalars()
            .all()
        )
    assert sorted(owners) == sorted(["渝北区", "长寿区", "广安市"])
