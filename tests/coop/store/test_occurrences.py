"""Completion reports, waivers and the sweep against a real database."""

from __future__ import annotations

import datetime as dt

import pytest
from conftest import FIXTURES
from sqlalchemy import select

from coop.agreement.loader import load_agreement
from coop.calendar import WorkdayCalendar
from coop.errors import CoopError, Forbidden, InvalidTransition, UnknownOccurrence
from coop.planning import calendar_fingerprint, expand
from coop.report import CompletionReport
from coop.store.occurrences import record_completion, sweep, waive
from coop.store.plans import apply_plan
from models.db import session_scope
from models.tables import LedgerEvent, Occurrence, Report

CAL = WorkdayCalendar()
YUBEI = "渝北区/区委社会工作部"


@pytest.fixture
def planned(db_url: str) -> dict[str, int]:
    loaded = load_agreement(FIXTURES / "small.yaml")
    with session_scope(db_url) as s:
        # planned before the term starts, so the plan's own status update leaves every row planned
        apply_plan(s, loaded, expand(loaded, CAL, 1000), dt.date(2025, 8, 1), "tester", calendar_fingerprint(CAL))
        return {o.key: o.id for o in s.execute(select(Occurrence)).scalars()}


def test_done_report_closes_occurrence_and_lands_in_ledger(db_url: str, planned: dict[str, int]) -> None:
    oid = planned["1.1@2026-03-31"]
    with session_scope(db_url) as s:
        event_id = record_completion(
            s,
            CompletionReport(
                oid, YUBEI, participants=48, metrics={"participants": 48}, evidence=["https://example.cn/p.jpg"]
            ),
            "渝北区",
        )
    with session_scope(db_url) as s:
        occ = s.get(Occurrence, oid)
        assert occ is not None and occ.status == "done" and occ.closed_at is not None
        event = s.get(LedgerEvent, event_id)
        assert event is not None and event.kind == "occurrence_done" and event.occurrence_id == oid
        assert '"participants":48' in event.payload
        [report] = s.execute(select(Report)).scalars().all()
        assert report.metrics == {"participants": 48} and report.event_id == event_id


def test_other_department_gets_unknown_not_forbidden(db_url: str, planned: dict[str, int]) -> None:
    with session_scope(db_url) as s, pytest.raises(UnknownOccurrence):
        record_completion(s, CompletionReport(planned["1.1@2026-03-31"], "长寿区/区委社会工作部"), "长寿区")


@pytest.mark.parametrize(
    "report, error",
    [
        (CompletionReport(999_999, YUBEI), UnknownOccurrence),
        (CompletionReport(0, "渝中区/区委社会工作部"), Forbidden),
        (CompletionReport(0, YUBEI, metrics={"questionnaires": 3}), CoopError),
        (CompletionReport(0, YUBEI, metrics={"participants": -1}), CoopError),
        (CompletionReport(0, YUBEI, participants=10**12), CoopError),
        (CompletionReport(0, YUBEI, outcome="cannot"), CoopError),
    ],
)
def test_bad_reports_write_nothing(db_url: str, planned: dict[str, int], report: CompletionReport, error: type) -> None:
    if report.occurrence_id == 0:
        report = CompletionReport(**{**report.__dict__, "occurrence_id": planned["1.1@2026-03-31"]})
    with pytest.raises(error), session_scope(db_url) as s:
        record_completion(s, report, "x")
    with session_scope(db_url) as s:
        assert s.execute(select(Report)).first() is None
        assert [e.kind for e in s.execute(select(LedgerEvent)).scalars()] == ["agreement_planned"]


def test_done_twice_is_refused(db_url: str, planned: dict[str, int]) -> None:
    oid = planned["1.1@2026-03-31"]
    with session_scope(db_url) as s:
        record_completion(s, CompletionReport(oid, YUBEI), "x")
    with pytest.raises(InvalidTransition), session_scope(db_url) as s:
        record_completion(s, CompletionReport(oid, YUBEI), "x")


def test_partial_keeps_it_open_and_waive_closes_it(db_url: str, planned: dict[str, int]) -> None:
    oid = planned["6.1@2026-09-10"]
    with session_scope(db_url) as s:
        record_completion(s, CompletionReport(oid, "渝北区/团区委", outcome="partial", participants=12), "团区委")
        waive(s, oid, "汛期停止下河", "coordinator")
    with session_scope(db_url) as s:
        occ = s.get(Occurrence, oid)
        assert occ is not None and occ.status == "waived"
        kinds = [e.kind for e in s.execute(select(LedgerEvent).order_by(LedgerEvent.id)).scalars()]
        assert kinds[-2:] == ["occurrence_progress", "occurrence_waived"]


def test_sweep_marks_due_and_overdue_once(db_url: str, planned: dict[str, int]) -> None:
    today = dt.date(2026, 3, 20)
    with session_scope(db_url) as s:
        first = sweep(s, today, "sweeper")
    with session_scope(db_url) as s:
        second = sweep(s, today, "sweeper")
        statuses = {o.key: o.status for o in s.execute(select(Occurrence)).scalars()}
    # overdue: 1.1 (2025-09-30, 2025-12-31), 1.2 for three parties (2025-10-09), 6.1 (2025-09-10, 2026-03-10)
    assert (first.became_due, first.became_overdue) == (1, 7)
    assert statuses["1.1@2026-03-31"] == "due"  # window of 20 days has opened
    assert statuses["1.1@2025-12-31"] == "overdue"
    assert statuses["1.1@2026-06-30"] == "planned"
    assert (second.became_due, second.became_overdue) == (0, 0)
