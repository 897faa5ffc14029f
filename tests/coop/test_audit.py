"""Audit arithmetic on hand-made states: the definitions of the rates, grouping, bounded overdue list, report text."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import pytest

from coop.audit import group_key, summarise_states, summary_markdown
from coop.calendar import WorkdayCalendar
from coop.ledger import ChainBreak
from coop.store.ledger import Verification

AS_OF = dt.date(2026, 6, 1)


def s(
    i: int, status: str, due: str, completed: str | None = None, party: str = "渝北区", **extra: object
) -> SimpleNamespace:
    values = {
        "id": i,
        "agreement_id": "a",
        "agreement_title": "协议",
        "programme": "1",
        "clause": "1.1",
        "clause_title": "联合培训",
        "party": party,
        "department": "区委社会工作部",
        "due_date": dt.date.fromisoformat(due),
        "status": status,
        "completed_on": dt.date.fromisoformat(completed) if completed else None,
        "targets": {},
        "metrics": {},
    }
    values.update(extra)
    return SimpleNamespace(**values)


def test_rate_definitions() -> None:
    states = [
        s(1, "done", "2026-03-31", "2026-03-30"),  # expected, on time
        s(2, "done", "2026-03-31", "2026-04-02"),  # expected, late
        s(3, "overdue", "2026-04-30"),  # expected, not done
        s(4, "waived", "2026-04-30"),  # not expected
        s(5, "cancelled", "2026-04-30"),  # not expected
        s(6, "done", "2026-09-30", "2026-05-01"),  # done early, not yet expected
        s(7, "planned", "2026-09-30"),  # open, not yet due
        s(8, "due", "2026-06-01"),  # due today: not yet expected
    ]
    o = summarise_states(states, AS_OF).overall
    assert (o.total, o.expected, o.done, o.on_time, o.overdue, o.done_total, o.open_not_due, o.waived, o.cancelled) == (
        8,
        3,
        2,
        1,
        1,
        3,
        2,
        1,
        1,
    )
    assert o.completion_rate == pytest.approx(2 / 3, abs=1e-4) and o.on_time_rate == pytest.approx(1 / 3, abs=1e-4)
    assert summarise_states([], AS_OF).overall.completion_rate is None


def test_group_keys() -> None:
    state = s(1, "planned", "2026-08-15", party="长寿区")
    assert [
        group_key(state, by) for by in ("agreement", "programme", "party", "department", "month", "quarter", "year")
    ] == [
        "a",
        "a / 1",
        "长寿区",
        "长寿区/区委社会工作部",
        "2026-08",
        "2026-Q3",
        "2026",
    ]


def test_overdue_list_keeps_the_oldest_within_the_limit() -> None:
    states = [
        s(i, "overdue", (dt.date(2026, 1, 1) + dt.timedelta(days=(i * 37) % 100)).isoformat()) for i in range(1, 101)
    ]
    summary = summarise_states(states, AS_OF, overdue_limit=5)
    assert summary.overdue_count == 100
    expected = sorted(states, key=lambda x: (x.due_date, x.id))[:5]
    assert [i.occurrence_id for i in summary.overdue] == [x.id for x in expected]
    # Working days, as the escalations count them: 2026-01-01 → 2026-06-01 is 151 calendar days, 100 working days
    # (weekends, 春节, 清明, 劳动节 out; 调休 Saturdays in).
    assert summary.overdue[0].days_overdue == WorkdayCalendar().workdays_between(expected[0].due_date, AS_OF) == 100
    assert summarise_states(states, AS_OF, overdue_limit=0).overdue == []


def test_progress_sums_targets_of_live_occurrences_only() -> None:
    states = [
        s(1, "done", "2026-03-31", "2026-03-30", targets={"participants": 50}, metrics={"participants": 48}),
        s(2, "overdue", "2026-04-30", targets={"participants": 50}, metrics={"participants": 10}),
        s(3, "waived", "2026-04-30", targets={"participants": 50}, metrics={}),
        s(4, "planned", "2026-09-30", clause="10.2", targets={"reports": 2}),
    ]
    progress = {(p.clause, p.metric): p for p in summarise_states(states, AS_OF).progress}
    assert (progress[("1.1", "participants")].reported, progress[("1.1", "participants")].target) == (58, 100)
    assert progress[("1.1", "participants")].ratio == 0.58
    assert list(progress) == [("1.1", "participants"), ("10.2", "reports")]  # clause order is numeric


def test_markdown_report_in_chinese() -> None:
    summary = summarise_states(
        [s(1, "done", "2026-03-31", "2026-03-30"), s(2, "overdue", "2026-04-30")], AS_OF, "party"
    )
    text = summary_markdown(summary, Verification(12, True, None))
    assert "# 协议执行审计报告（截至 2026年6月1日（周一））" in text
    assert "| 渝北区 | 2 | 2 | 1 | 50.0% | 1 | 50.0% | 1 | 0 | 0 | 0 |" in text
    assert "逾期任务（共 1 项）" in text and "台账完整：12 条事件" in text
    broken = summary_markdown(
        summary, Verification(12, False, ChainBreak(7, "content does not match its hash (altered after writing)"))
    )
    assert "台账被改动" in broken and "事件 #7" in broken
