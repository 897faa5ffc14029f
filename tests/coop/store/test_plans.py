"""Planning into a real database (SQLite and PostgreSQL): idempotence, amendments, atomicity."""

from __future__ import annotations

import datetime as dt

import pytest
from conftest import FIXTURES
from sqlalchemy import func, select, text

from coop.agreement.loader import parse_agreement
from coop.calendar import WorkdayCalendar
from coop.planning import PlanResult, calendar_fingerprint, expand
from coop.report import CompletionReport
from coop.settings import Settings
from coop.store.ledger import verify
from coop.store.occurrences import record_completion
from coop.store.plans import DEFAULT_HORIZON_DAYS, apply_plan
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
        events = s.execute(select(LedgerEvent).order_by(LedgerEvent.id)).scalars().all()
        # the plan, then its statuses brought up to date as of its today, all for this agreement
        assert [e.kind for e in events] == ["agreement_planned", "sweep_overdue", "sweep_due"]
        assert {e.agreement_id for e in events} == {"test-small"}
        assert verify(s).ok


def test_replan_unchanged_writes_nothing(db_url: str) -> None:
    plan(db_url)
    before = snapshot(db_url)
    result = plan(db_url)
    assert result.unchanged and result.created == result.updated == result.cancelled == 0
    assert snapshot(db_url) == before


def test_replan_unchanged_on_a_later_day_only_brings_statuses_up_to_date(db_url: str) -> None:
    plan(db_url)
    later = TODAY + dt.timedelta(days=30)
    result = plan(db_url, today=later)
    assert result.unchanged and result.created == result.updated == result.cancelled == 0
    assert result.became_due == 1 and result.became_overdue == 1  # 6.1@2026-03-10 overdue; a window opened
    with session_scope(db_url) as s:
        kinds = [e.kind for e in s.execute(select(LedgerEvent).order_by(LedgerEvent.id)).scalars()]
        for o in s.execute(select(Occurrence)).scalars():
            rule = "overdue" if o.due_date < later else "due" if o.window_start <= later else "planned"
            assert o.status == rule, o.key
    assert kinds.count("agreement_planned") == 1 and kinds[-2:] == ["sweep_overdue", "sweep_due"]


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
    assert result.cancelled == 3  # 6.1 had four open occurrences; the overdue one (2025-09-10) is history
    assert result.created == 0
    with session_scope(db_url) as s:
        rows = {o.key: o for o in s.execute(select(Occurrence)).scalars()}
        assert rows["1.1@2025-12-31"].status == "done" and rows["1.1@2025-12-31"].host == "长寿区"  # done: untouched
        assert rows["1.1@2025-09-30"].host == "渝北区"  # past open: history, untouched
        future = [o for o in rows.values() if o.key.startswith("1.1@") and o.due_date >= TODAY]
        assert future and result.updated == sum(1 for o in future if o.version == 2)
        assert {k: o.status for k, o in rows.items() if k.startswith("6.1@")} == {
            "6.1@2025-09-10": "overdue",  # an unmet past obligation stays in the completion base
            "6.1@2026-03-10": "cancelled",
            "6.1@2026-09-10": "cancelled",
            "6.1@2027-03-10": "cancelled",
        }
        reasons = [
            e.payload
            for e in s.execute(select(LedgerEvent).where(LedgerEvent.kind == "occurrence_cancelled")).scalars()
        ]
        assert len(reasons) == 3 and all("条款已从协议中删除" in r for r in reasons)
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
    unknown = {"key": "9.9@2026-06-01", "clause": "9.9", "due_date": dt.date(2026, 6, 1)}  # due after today
    broken = planned + [type(planned[0])(**{**planned[0].__dict__, **unknown})]
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


def test_the_store_default_horizon_is_the_settings_default() -> None:
    """The store cannot read Settings; its default for callers that pass none must not drift from it."""
    assert Settings.model_fields["notify_horizon_days"].default == DEFAULT_HORIZON_DAYS
