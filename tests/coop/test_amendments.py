"""Amendments with an effective date, revert that restores, tracking_from — on SQLite and PostgreSQL.

History is never rewritten: nothing due before a re-plan's effective date is created, moved or cancelled;
open occurrences due on or after it follow the new text, and a key the text wants again comes back.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from conftest import FIXTURES
from sqlalchemy import select, text, update

from coop.agreement.loader import LoadedAgreement, parse_agreement
from coop.audit import Rates
from coop.calendar import WorkdayCalendar
from coop.errors import AgreementError
from coop.planning import PlanResult, calendar_fingerprint, expand
from coop.report import CompletionReport
from coop.services.notifications import record_due_notices
from coop.services.schema import upgrade
from coop.store.audit import AuditFilter, occurrence_states
from coop.store.ledger import verify
from coop.store.occurrences import cancel, record_completion, sweep
from coop.store.plans import apply_plan
from models.db import get_engine, session_scope
from models.tables import LedgerEvent, Notice, Occurrence

CAL = WorkdayCalendar()
SMALL = (FIXTURES / "small.yaml").read_text(encoding="utf-8")
QUARTER_END = "recurrence: {every: quarter, window_days: 20}"
QUARTER_20TH = "recurrence: {every: quarter, day: 20, window_days: 20}"
CLAUSE_61 = SMALL[SMALL.index('  - id: "6"') :]
YEARLY = """      - id: 1.3
        title: 年度工作总结
        kind: report
        responsible: {party: 渝北区}
        recurrence: {rrule: "FREQ=YEARLY;BYMONTH=9;BYMONTHDAY=30"}
"""


def amended(body: str, *entries: tuple[str, str]) -> str:
    """The agreement text with an `amended:` list (date, ref) appended."""
    if not entries:
        return body
    lines = "".join(f'  - {{date: {day}, ref: "{ref}", note: 测试}}\n' for day, ref in entries)
    return body + "amended:\n" + lines


def plan(url: str, text_: str, today: dt.date) -> PlanResult:
    loaded = parse_agreement(text_, "small.yaml")
    with session_scope(url) as session:
        return apply_plan(session, loaded, expand(loaded, CAL, 1000), today, "协调员张三", calendar_fingerprint(CAL))


Row = tuple[object, ...]


def rows(url: str) -> list[Row]:
    """Every occurrence as stored, ids included; owner by party/department name."""
    sql = (
        "SELECT o.id, o.key, o.due_date, o.window_start, o.host, a.name, d.name, o.status, o.provisional, "
        "o.targets, o.version, o.clause_id FROM occurrence o JOIN department d ON d.id = o.department_id "
        "JOIN agency a ON a.id = d.agency_id"
    )
    with get_engine(url).connect() as conn:
        found = conn.execute(text(sql)).all()
    # raw SQL: SQLite gives 0/1 and JSON text where PostgreSQL gives booleans and dicts
    return sorted(
        (tuple(str(v) for v in (*r[:8], bool(r[8]), r[9] if isinstance(r[9], dict) else json.loads(r[9]), *r[10:])))
        for r in found
    )


def due_before(all_rows: list[Row], day: dt.date) -> list[Row]:
    return [r for r in all_rows if str(r[2]) < day.isoformat()]


def future_open(all_rows: list[Row], day: dt.date) -> set[Row]:
    """(key, due, window, host, party, department, status, provisional, targets) of live rows due on/after day."""
    return {r[1:10] for r in all_rows if str(r[2]) >= day.isoformat() and r[7] != "cancelled"}


def sweep_to(url: str, day: dt.date) -> None:
    with session_scope(url) as session:
        sweep(session, day, "tester")


def rates(url: str, as_of: dt.date, clause: str | None = None, from_ledger: bool = False) -> Rates:
    """The auditors' rates; from the stored statuses (right for the plan's today) or rebuilt from the ledger."""
    out = Rates("x")
    with session_scope(url) as s:
        flt = AuditFilter(agreement="test-small", clause=clause)
        for state in occurrence_states(s, flt, as_of, from_ledger=from_ledger):
            out.add(state, as_of)
    return out


LATER = dt.date(2030, 1, 1)  # an audit day after every event of these tests (they are written in real time)


def complete(url: str, key: str) -> None:
    with session_scope(url) as s:
        oid = s.execute(select(Occurrence.id).where(Occurrence.key == key)).scalar_one()
        record_completion(s, CompletionReport(oid, "渝北区/区委社会工作部", participants=50), "渝北区")


def test_three_amendments_keep_the_past_and_end_where_a_fresh_plan_starts(db_url: str, tmp_path: Path) -> None:
    """Plan, then move a date, remove a clause, revert: the past never changes; the future is the final text's."""
    plan(db_url, SMALL, dt.date(2026, 1, 15))
    complete(db_url, "1.1@2025-12-31")
    e1, e2, e3 = dt.date(2026, 3, 2), dt.date(2026, 5, 6), dt.date(2026, 7, 1)
    a1, a2, a3 = (
        (e1.isoformat(), "补充协议（一）"),
        (e2.isoformat(), "补充协议（二）"),
        (e3.isoformat(), "补充协议（三）"),
    )
    moved = SMALL.replace(QUARTER_END, QUARTER_20TH)
    steps = [
        (e1, amended(moved, a1)),  # 1.1 due on the 20th instead of quarter end
        (e2, amended(moved.replace(CLAUSE_61, ""), a1, a2)),  # 6.1 removed
        (e3, amended(SMALL, a1, a2, a3)),  # both reverted
    ]
    results = []
    for effective, text_ in steps:
        sweep_to(db_url, effective)  # statuses current, so the plan's own sweep changes nothing in the past
        past = due_before(rows(db_url), effective)
        result = plan(db_url, text_, effective)
        assert result.effective_from == effective
        assert due_before(rows(db_url), effective) == past  # ids, dates, hosts, owners, statuses, versions
        results.append(result)
    first, second, third = results
    assert first.created == first.cancelled > 0 and first.not_created > 0 and first.restored == 0
    assert {c.kind for c in first.changes} == {"added", "cancelled"}
    assert second.cancelled == 2 and second.created == 0  # 6.1 on 2026-09-10 and 2027-03-10; 2026-03-10 is past
    # the revert restores what the amendments cancelled (not "kept"), and cancels what the first one added
    cancelled_before = [c for r in (first, second) for c in r.changes if c.kind == "cancelled"]
    assert third.restored == sum(1 for c in cancelled_before if c.due_before and c.due_before >= e3) > 0
    assert third.created == 0
    assert third.cancelled == sum(1 for c in first.changes if c.kind == "added" and c.due_after and c.due_after >= e3)
    assert third.kept + third.restored + third.updated + third.not_created == len(expand(_loaded(steps[2][1]), CAL, 99))

    fresh = f"sqlite:///{tmp_path / 'fresh.db'}"
    upgrade(fresh)
    plan(fresh, steps[2][1], e3)
    assert future_open(rows(db_url), e3) == future_open(rows(fresh), e3)
    with session_scope(db_url) as s:
        assert verify(s).ok
        restored = s.execute(select(LedgerEvent).where(LedgerEvent.kind == "occurrence_restored")).scalars().all()
        assert len(restored) == third.restored and {e.actor for e in restored} == {"协调员张三"}
        assert all('"amendment":"补充协议（三）"' in e.payload for e in restored)


def _loaded(text_: str) -> LoadedAgreement:
    return parse_agreement(text_, "small.yaml")


def test_a_clause_whose_date_changed_twice_still_has_its_future(db_url: str) -> None:
    plan(db_url, SMALL, dt.date(2026, 1, 15))
    a1, a2 = ("2026-02-02", "补充协议（一）"), ("2026-04-01", "补充协议（二）")
    plan(db_url, amended(SMALL.replace(QUARTER_END, QUARTER_20TH), a1), dt.date(2026, 2, 2))
    back = plan(db_url, amended(SMALL, a1, a2), dt.date(2026, 4, 1))
    assert back.restored > 0
    live = {r[1] for r in rows(db_url) if r[7] != "cancelled" and r[1].startswith("1.1@") and r[2] >= "2026-04-01"}
    wanted = {p.key for p in expand(_loaded(SMALL), CAL, 99) if p.clause == "1.1" and p.due_date >= dt.date(2026, 4, 1)}
    assert live == wanted and wanted
    assert any(line.startswith("条款 1.1：恢复 ") for line in back.change_lines())


def test_an_amendment_creates_no_task_in_the_past(db_url: str) -> None:
    """Issue 12 point 1: 9-30 → 10-31 must not put an overdue 2025-10-31 beside the done 2025-09-30."""
    base = SMALL.replace('  - id: "6"', YEARLY + '  - id: "6"')
    plan(db_url, base, dt.date(2026, 3, 2))
    complete(db_url, "1.3@2025-09-30")
    later = base.replace("BYMONTH=9;BYMONTHDAY=30", "BYMONTH=10;BYMONTHDAY=31")
    result = plan(db_url, amended(later, ("2026-03-02", "补充协议（一）")), dt.date(2026, 3, 2))
    by_key = {r[1]: r for r in rows(db_url)}
    assert "1.3@2025-10-31" not in by_key  # before the effective date: not created
    assert by_key["1.3@2025-09-30"][7] == "done"  # history untouched
    assert by_key["1.3@2026-09-30"][7] == "cancelled" and by_key["1.3@2026-10-31"][7] == "planned"
    assert (result.created, result.cancelled, result.not_created) == (1, 1, 1)
    assert result.change_lines() == [
        "条款 1.3：取消 1 项（协议修订后该日期不再安排）：2026-09-30",
        "条款 1.3：新增 1 项：2026-10-30",  # 10-31 is a Saturday; adjust: previous
    ]


def test_removing_a_clause_keeps_its_past_overdue_occurrence_in_the_completion_base(db_url: str) -> None:
    """Issue 12 point 3: an amendment cannot hide a failure from the auditors."""
    today = dt.date(2026, 5, 6)
    plan(db_url, SMALL, today)
    before = rates(db_url, today, "6.1")
    plan(db_url, amended(SMALL.replace(CLAUSE_61, ""), (today.isoformat(), "补充协议（一）")), today)
    statuses = {r[1]: r[7] for r in rows(db_url) if r[1].startswith("6.1@")}
    assert statuses == {
        "6.1@2025-09-10": "overdue",
        "6.1@2026-03-10": "overdue",
        "6.1@2026-09-10": "cancelled",
        "6.1@2027-03-10": "cancelled",
    }
    after = rates(db_url, today, "6.1")
    assert (after.expected, after.overdue) == (before.expected, before.overdue) == (2, 2)
    rebuilt = rates(db_url, LATER, "6.1", from_ledger=True)  # the ledger agrees: two past, two cancelled
    assert (rebuilt.expected, rebuilt.cancelled) == (2, 2)


def test_reverting_a_removal_restores_the_future_and_is_not_counted_as_kept(db_url: str) -> None:
    """Issue 12 point 2: remove a clause, re-plan, put it back, re-plan: its future comes back."""
    plan(db_url, SMALL, dt.date(2026, 1, 15))
    removed = plan(db_url, SMALL.replace(CLAUSE_61, ""), dt.date(2026, 2, 1))
    assert removed.cancelled == 3 and removed.effective_from == dt.date(2026, 2, 1)  # no amended entry: today
    back = plan(db_url, SMALL, dt.date(2026, 4, 1))
    assert back.restored == 2 and back.created == 0  # 2026-03-10 is past now: it stays cancelled
    statuses = {r[1]: r[7] for r in rows(db_url) if r[1].startswith("6.1@")}
    assert statuses == {
        "6.1@2025-09-10": "overdue",
        "6.1@2026-03-10": "cancelled",
        "6.1@2026-09-10": "planned",
        "6.1@2027-03-10": "planned",
    }
    assert back.kept == len(expand(_loaded(SMALL), CAL, 99)) - 2


def test_a_coordinators_cancellation_is_not_undone_by_a_re_plan(db_url: str) -> None:
    plan(db_url, SMALL, dt.date(2026, 1, 15))
    with session_scope(db_url) as s:
        oid = s.execute(select(Occurrence.id).where(Occurrence.key == "6.1@2026-09-10")).scalar_one()
        cancel(s, oid, "活动取消", "协调员李四")
    result = plan(
        db_url, SMALL.replace("targets: {participants: 50}", "targets: {participants: 60}"), dt.date(2026, 2, 1)
    )
    assert result.restored == 0
    assert {r[1]: r[7] for r in rows(db_url)}["6.1@2026-09-10"] == "cancelled"


def test_a_plan_brings_statuses_up_to_date_as_of_its_today(db_url: str) -> None:
    today = dt.date(2026, 3, 2)
    plan(db_url, SMALL, today)
    for r in rows(db_url):
        due, window, status = dt.date.fromisoformat(r[2]), dt.date.fromisoformat(r[3]), r[7]
        assert status == ("overdue" if due < today else "due" if window <= today else "planned"), r
    # an amendment moving an overdue task into the future makes it open again, not overdue
    key = "1.1@2026-03-31"
    later = SMALL.replace(QUARTER_END, "recurrence: {every: quarter, window_days: 2}")
    plan(db_url, amended(later, (today.isoformat(), "补充协议（一）")), today)
    assert {r[1]: r[7] for r in rows(db_url)}[key] == "planned"


def test_tracking_from_keeps_earlier_occurrences_as_untracked_history(db_url: str) -> None:
    """Issue 12 point 6: an agreement taken over under way arrives without a backlog of overdue tasks."""
    start = dt.date(2026, 1, 1)
    today = dt.date(2026, 5, 6)
    taken_over = SMALL.replace("term:\n", f"tracking_from: {start}\nterm:\n")
    result = plan(db_url, taken_over, today)
    all_rows = rows(db_url)
    early = [r for r in all_rows if r[2] < start.isoformat()]
    assert early and {r[7] for r in early} == {"untracked"}
    assert result.untracked == len(early)
    assert {r[7] for r in all_rows if start.isoformat() <= r[2] < today.isoformat()} == {"overdue"}
    sweep_to(db_url, dt.date(2026, 6, 1))
    assert {r[7] for r in rows(db_url) if r[2] < start.isoformat()} == {"untracked"}  # the sweep leaves them
    now = rates(db_url, today)
    assert now.untracked == len(early) and now.expected == now.overdue == sum(1 for r in all_rows if r[7] == "overdue")
    assert rates(db_url, LATER, from_ledger=True).untracked == len(early)  # the ledger says so too
    with session_scope(db_url) as s:
        untracked_events = s.execute(select(LedgerEvent).where(LedgerEvent.kind == "occurrence_untracked")).all()
        assert len(untracked_events) == len(early)
    # a completion reported for untracked history counts in the rates
    complete(db_url, "1.1@2025-12-31")
    done = rates(db_url, today)
    assert done.untracked == len(early) - 1 and done.done == 1 and done.expected == now.expected + 1


def test_untracked_history_gets_no_reminder_and_no_escalation(db_url: str) -> None:
    """Only open occurrences are reminded or escalated; untracked history is neither (the tracked overdue are)."""
    today = dt.date(2026, 5, 6)
    plan(db_url, SMALL.replace("term:\n", "tracking_from: 2026-01-01\nterm:\n"), today)
    with session_scope(db_url) as s:
        record_due_notices(s, today, CAL)
        told = s.execute(
            select(Occurrence.status, Notice.kind).join(Occurrence, Occurrence.id == Notice.occurrence_id)
        ).all()
    assert told and "untracked" not in {status for status, _ in told}
    assert ("overdue", "escalation") in {(str(status), kind) for status, kind in told}


def test_tracking_from_added_later_untracks_open_history_and_removing_it_tracks_again(db_url: str) -> None:
    today = dt.date(2026, 3, 2)
    plan(db_url, SMALL, today)
    overdue_before = {r[1] for r in rows(db_url) if r[7] == "overdue" and r[2] < "2026-01-01"}
    result = plan(db_url, SMALL.replace("term:\n", "tracking_from: 2026-01-01\nterm:\n"), today)
    assert result.untracked == len(overdue_before) > 0
    assert {r[1] for r in rows(db_url) if r[7] == "untracked"} == overdue_before
    again = plan(db_url, SMALL.replace("targets: {participants: 50}", "targets: {participants: 51}"), today)
    assert again.tracked == len(overdue_before)
    assert {r[1] for r in rows(db_url) if r[7] == "overdue" and r[2] < "2026-01-01"} == overdue_before
    with session_scope(db_url) as s:
        assert verify(s).ok


def test_an_extended_due_date_survives_a_re_plan(db_url: str) -> None:
    """A coordinator's extension stands; the plan's new date is kept beside it (planned_due_date)."""
    plan(db_url, SMALL, dt.date(2026, 1, 15))
    extended = dt.date(2026, 4, 30)
    with session_scope(db_url) as s:
        s.execute(
            update(Occurrence)
            .where(Occurrence.key == "1.1@2026-03-31")
            .values(due_date=extended, planned_due_date=dt.date(2026, 3, 31))
        )
    later = SMALL.replace(QUARTER_END, "recurrence: {every: quarter, window_days: 20, adjust: none}")
    plan(db_url, later.replace("targets: {participants: 50}", "targets: {participants: 55}"), dt.date(2026, 2, 1))
    with session_scope(db_url) as s:
        occ = s.execute(select(Occurrence).where(Occurrence.key == "1.1@2026-03-31")).scalar_one()
        assert (occ.due_date, occ.planned_due_date, occ.targets) == (
            extended,
            dt.date(2026, 3, 31),
            {"participants": 55},
        )


@pytest.mark.parametrize(
    ("entries", "line", "message"),
    [
        ('  - {date: 2025-08-01, ref: "补充协议（一）"}\n', 53, "早于签署日期 2025-09-01"),
        ('  - {date: 2027-09-01, ref: "补充协议（一）"}\n', 53, "晚于协议期结束日 2027-08-31"),
        (
            '  - {date: 2026-03-01, ref: "补充协议（一）"}\n  - {date: 2026-02-01, ref: "补充协议（二）"}\n',
            54,
            "修订记录须按生效日期先后排列",
        ),
        (
            '  - {date: 2026-03-01, ref: "补充协议（一）"}\n  - {date: 2026-04-01, ref: "补充协议（一）"}\n',
            54,
            "文号 '补充协议（一）' 重复",
        ),
    ],
)
def test_bad_amendments_are_refused_with_file_and_line(entries: str, line: int, message: str) -> None:
    with pytest.raises(AgreementError) as err:
        parse_agreement(SMALL + "amended:\n" + entries, "small.yaml")
    [problem] = err.value.problems
    assert (problem.file, problem.line) == ("small.yaml", line) and message in problem.message, str(problem)


def test_tracking_from_outside_the_term_is_refused() -> None:
    with pytest.raises(AgreementError) as err:
        parse_agreement(SMALL.replace("term:\n", "tracking_from: 2024-01-01\nterm:\n"), "small.yaml")
    [problem] = err.value.problems
    assert problem.line == 5 and "tracking_from 2024-01-01 不在协议期" in problem.message


def test_an_unchanged_file_keeps_its_content_hash() -> None:
    """New optional fields count only when written: files planned before them are not re-versioned."""
    before_amendments_existed = "6b910e21d056661e92dc4ed06b79ef52c70faa11934911b96ddf22553238bd60"  # at a23be08
    assert parse_agreement(SMALL, "a.yaml").content_hash == before_amendments_existed
    with_entry = amended(SMALL, ("2026-03-01", "补充协议（一）"))
    assert parse_agreement(with_entry, "a.yaml").content_hash != before_amendments_existed
