"""Expansion onto working days, host rotation, each-party ownership, and the re-plan diff."""

from __future__ import annotations

import datetime as dt

from conftest import FIXTURES
from hypothesis import given
from hypothesis import strategies as st

from coop.agreement.loader import load_agreement, parse_agreement
from coop.calendar import WorkdayCalendar
from coop.planning import StoredOccurrence, diff, expand, rotate_host

CAL = WorkdayCalendar()
SMALL = load_agreement(FIXTURES / "small.yaml")


def test_every_due_date_is_a_working_day_and_window_precedes_it() -> None:
    planned = expand(SMALL, CAL, 1000)
    assert planned
    for p in planned:
        assert CAL.is_workday(p.due_date)
        assert p.window_start <= p.due_date
        assert p.provisional == (p.due_date.year >= 2027 or p.nominal_date.year >= 2027)


def test_national_day_once_moves_past_the_golden_week() -> None:
    planned = [p for p in expand(SMALL, CAL, 1000) if p.clause == "1.2"]
    # 2025-10-01..08 are holidays (国庆+中秋); adjust: next lands on Thursday 2025-10-09.
    assert {p.due_date for p in planned} == {dt.date(2025, 10, 9)}
    assert {p.party for p in planned} == {"渝北区", "长寿区", "广安市"}
    assert {p.department for p in planned} == {"区委社会工作部", "市委社会工作部"}


def test_spring_festival_quarter_end_previous_working_day() -> None:
    text = (
        (FIXTURES / "small.yaml")
        .read_text(encoding="utf-8")
        .replace('rrule: "FREQ=MONTHLY;INTERVAL=6;BYMONTHDAY=10", adjust: next', "once: 2026-02-17, adjust: previous")
    )
    loaded = parse_agreement(text, "x.yaml")
    [p] = [p for p in expand(loaded, CAL, 100) if p.clause == "6.1"]
    # 春节 2026: Feb 15–23 off, Saturday Feb 14 is a 调休 working day.
    assert p.due_date == dt.date(2026, 2, 14)


def test_hosts_rotate_in_order() -> None:
    hosts = [p.host for p in expand(SMALL, CAL, 1000) if p.clause == "1.1"]
    assert hosts[:4] == ["渝北区", "长寿区", "广安市", "渝北区"]


@given(st.lists(st.text(min_size=1, max_size=3), min_size=1, max_size=6, unique=True), st.integers(0, 500))
def test_rotation_is_fair(parties: list[str], n: int) -> None:
    hosts = [rotate_host(parties, i) for i in range(n)]
    counts = [hosts.count(p) for p in parties]
    assert max(counts) - min(counts) <= 1


def test_no_rotation_no_host() -> None:
    assert rotate_host([], 3) is None


def _stored(p, oid: int, status: str = "planned") -> StoredOccurrence:  # type: ignore[no-untyped-def]
    return StoredOccurrence(oid, p.key, status, p.clause, p.due_date, p.comparable())


def test_diff_identity_is_empty() -> None:
    planned = expand(SMALL, CAL, 1000)
    stored = [_stored(p, i) for i, p in enumerate(planned)]
    result = diff(planned, stored, {"1.1", "1.2", "6.1"}, dt.date(2026, 1, 1))
    assert result.empty and result.kept == len(planned)


def test_diff_keeps_history_and_cancels_removed_clause() -> None:
    planned = expand(SMALL, CAL, 1000)
    today = dt.date(2026, 1, 1)
    stored = [
        _stored(p, i, "done" if p.clause == "1.1" and p.due_date < today else "planned") for i, p in enumerate(planned)
    ]
    desired = [p for p in planned if p.clause != "6.1"]
    result = diff(desired, stored, {"1.1", "1.2"}, today)
    cancelled_keys = {stored[oid].key for oid, _ in result.cancel}
    assert cancelled_keys == {p.key for p in planned if p.clause == "6.1"}
    assert all(reason == "条款已从协议中删除" for _, reason in result.cancel)
    assert not result.create and not result.update


def test_diff_moves_only_future_open_occurrences() -> None:
    planned = expand(SMALL, CAL, 1000)
    today = dt.date(2026, 1, 1)
    stored = [_stored(p, i) for i, p in enumerate(planned)]
    moved = [type(p)(**{**p.__dict__, "host": "广安市"}) for p in planned]
    result = diff(moved, stored, {"1.1", "1.2", "6.1"}, today)
    updated = {p.key for _, p in result.update}
    assert updated == {p.key for p in planned if p.due_date >= today and p.host != "广安市"}
