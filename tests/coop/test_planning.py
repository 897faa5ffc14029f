"""Expansion onto working days, host rotation, each-party ownership, and the re-plan diff."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from pathlib import Path

import pytest
from conftest import FIXTURES
from hypothesis import given, settings
from hypothesis import strategies as st

from coop.agreement.loader import load_agreement, parse_agreement
from coop.agreement.schema import Amendment
from coop.calendar import SeasonCalendar, WorkdayCalendar
from coop.errors import AgreementError
from coop.planning import (
    PlannedOccurrence,
    StoredOccurrence,
    diff,
    effective_date,
    expand,
    render_changes,
    rotate_host,
    schedule_fingerprint,
)

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


@settings(deadline=None)  # about fairness, not speed: a loaded machine must not fail it
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


def test_an_amendment_never_cancels_a_past_occurrence() -> None:
    """A removed clause loses its future, never its past: an unmet past obligation stays in the completion base."""
    planned = expand(SMALL, CAL, 1000)
    effective = dt.date(2026, 1, 1)
    stored = [
        _stored(
            p,
            i,
            "done"
            if p.clause == "1.1" and p.due_date < effective
            else "overdue"
            if p.due_date < effective
            else "planned",
        )
        for i, p in enumerate(planned)
    ]
    past_61 = {p.key for p in planned if p.clause == "6.1" and p.due_date < effective}
    assert past_61, "the fixture must have a past 6.1 occurrence"
    desired = [p for p in planned if p.clause != "6.1"]
    result = diff(desired, stored, {"1.1", "1.2"}, effective)
    cancelled_keys = {stored[oid].key for oid, _ in result.cancel}
    assert cancelled_keys == {p.key for p in planned if p.clause == "6.1" and p.due_date >= effective}
    assert not cancelled_keys & past_61
    assert all(reason == "条款已从协议中删除" for _, reason in result.cancel)
    assert not result.create and not result.update and not result.restore


def test_a_past_occurrence_of_a_kept_clause_is_not_cancelled_when_its_date_goes() -> None:
    planned = expand(SMALL, CAL, 1000)
    effective = dt.date(2026, 1, 1)
    stored = [_stored(p, i, "overdue" if p.due_date < effective else "planned") for i, p in enumerate(planned)]
    desired = [p for p in planned if p.clause != "1.1"]  # 1.1 keeps its clause but loses every date
    result = diff(desired, stored, {"1.1", "1.2", "6.1"}, effective)
    assert {stored[oid].key for oid, _ in result.cancel} == {
        p.key for p in planned if p.clause == "1.1" and p.due_date >= effective
    }
    assert {reason for _, reason in result.cancel} == {"协议修订后该日期不再安排"}


def test_an_amendment_creates_nothing_in_the_past() -> None:
    planned = expand(SMALL, CAL, 1000)
    effective = dt.date(2026, 1, 1)
    stored = [_stored(p, i) for i, p in enumerate(planned) if p.clause != "1.1"]
    result = diff(planned, stored, {"1.1", "1.2", "6.1"}, effective)
    new_11 = [p for p in planned if p.clause == "1.1"]
    assert {p.key for p in result.create} == {p.key for p in new_11 if p.due_date >= effective}
    assert result.not_created == sum(1 for p in new_11 if p.due_date < effective) > 0
    # a first plan (no effective date) creates the whole term
    assert len(diff(planned, [], set(), None).create) == len(planned)


def _with(p: PlannedOccurrence, **changes: object) -> PlannedOccurrence:
    return replace(p, **changes)  # type: ignore[arg-type]


def test_a_task_due_on_the_effective_date_is_updated_by_an_amendment() -> None:
    planned = expand(SMALL, CAL, 1000)
    target = next(p for p in planned if p.clause == "1.1" and p.due_date.year == 2026)
    day_before = dt.date.fromordinal(target.due_date.toordinal() - 1)
    stored = [_stored(p, i) for i, p in enumerate(planned)]
    other_host = "广安市" if target.host != "广安市" else "长寿区"
    moved = [_with(p, host=other_host) if p.key == target.key else p for p in planned]
    on_the_day = diff(moved, stored, {"1.1", "1.2", "6.1"}, target.due_date)
    assert [p.key for _, p in on_the_day.update] == [target.key]
    assert diff(moved, stored, {"1.1", "1.2", "6.1"}, day_before).update  # due after the effective date: too
    after = dt.date.fromordinal(target.due_date.toordinal() + 1)
    assert not diff(moved, stored, {"1.1", "1.2", "6.1"}, after).update  # due before it: history


def test_a_provisional_flag_change_propagates() -> None:
    planned = expand(SMALL, CAL, 1000)
    effective = dt.date(2026, 1, 1)
    stored = [_stored(p, i) for i, p in enumerate(planned)]
    flipped = [_with(p, provisional=not p.provisional) for p in planned]
    result = diff(flipped, stored, {"1.1", "1.2", "6.1"}, effective)
    assert {p.key for _, p in result.update} == {p.key for p in planned if p.due_date >= effective}
    assert all(p.provisional != planned[oid].provisional for oid, p in result.update)
    [change] = {c.kind for c in result.changes(stored)}
    assert change == "changed"
    assert "暂定标记" in result.changes(stored)[0].reason


def test_a_cancelled_key_wanted_again_is_restored_not_kept() -> None:
    planned = expand(SMALL, CAL, 1000)
    effective = dt.date(2026, 1, 1)
    by_plan = [
        StoredOccurrence(i, p.key, "cancelled", p.clause, p.due_date, p.comparable(), restorable=True)
        for i, p in enumerate(planned)
    ]
    result = diff(planned, by_plan, {"1.1", "1.2", "6.1"}, effective)
    assert {p.key for _, p in result.restore} == {p.key for p in planned if p.due_date >= effective}
    assert result.kept == sum(1 for p in planned if p.due_date < effective)  # past cancellations stay
    # a coordinator's cancellation is a decision, not a plan's: it stays
    by_coordinator = [replace(s, restorable=False) for s in by_plan]
    assert not diff(planned, by_coordinator, {"1.1", "1.2", "6.1"}, effective).restore


def test_tracking_from_untracks_open_history_and_tracks_again_when_moved_earlier() -> None:
    planned = expand(SMALL, CAL, 1000)
    stored = [
        _stored(p, i, "overdue" if p.due_date < dt.date(2026, 3, 1) else "planned") for i, p in enumerate(planned)
    ]
    start = dt.date(2026, 1, 1)
    result = diff(planned, stored, {"1.1", "1.2", "6.1"}, dt.date(2026, 3, 1), tracking_from=start)
    assert {stored[oid].key for oid in result.untrack} == {p.key for p in planned if p.due_date < start}
    assert not result.track and not result.update
    untracked = [replace(s, status="untracked") if s.id in set(result.untrack) else s for s in stored]
    back = diff(planned, untracked, {"1.1", "1.2", "6.1"}, dt.date(2026, 3, 1), tracking_from=None)
    assert sorted(back.track) == sorted(result.untrack) and not back.untrack
    assert result.is_untracked(dt.date(2025, 12, 31)) and not result.is_untracked(start)


def test_effective_date_is_the_newest_amendment_not_applied_before() -> None:
    a1 = Amendment(date=dt.date(2026, 2, 1), ref="补充协议（一）")
    a2 = Amendment(date=dt.date(2026, 4, 1), ref="补充协议（二）")
    today = dt.date(2026, 5, 1)
    assert effective_date([], set(), today) == (today, None)
    assert effective_date([a1, a2], set(), today) == (a2.date, a2)
    assert effective_date([a1, a2], {(a2.date, a2.ref)}, today) == (a1.date, a1)
    # everything already applied: a later re-plan of the same text (new holiday data) applies from its own today
    assert effective_date([a1, a2], {(a1.date, a1.ref), (a2.date, a2.ref)}, today) == (today, None)
    # an amendment still to come: the old text governs until its date
    assert effective_date([a1, a2], {(a1.date, a1.ref)}, dt.date(2026, 3, 1)) == (a2.date, a2)


def test_changes_render_clause_by_clause_with_dates() -> None:
    planned = expand(SMALL, CAL, 1000)
    effective = dt.date(2026, 1, 1)
    stored = [_stored(p, i) for i, p in enumerate(planned)]
    later = [
        _with(p, due_date=p.due_date + dt.timedelta(days=7)) if p.clause == "1.1" else p
        for p in planned
        if p.clause != "6.1"
    ]
    result = diff(later, stored, {"1.1", "1.2"}, effective)
    lines = render_changes(result.changes(stored))
    moved = next(p for p in planned if p.clause == "1.1" and p.due_date >= effective)
    assert lines[0].startswith("条款 1.1：调整日期 ")
    assert f"{moved.due_date} → {moved.due_date + dt.timedelta(days=7)}" in lines[0]
    assert lines[1].startswith("条款 6.1：取消 3 项（条款已从协议中删除）：2026-03-10、")
    assert len(lines) == 2  # nothing else changed; 1.2 is not mentioned


def test_expand_hosts_follow_rotate_host() -> None:
    for clause in ("1.1", "1.2"):
        occurrences = [p for p in expand(SMALL, CAL, 1000) if p.clause == clause]
        rotation = ["渝北区", "长寿区", "广安市"] if clause == "1.1" else []
        assert [p.host for p in occurrences] == [rotate_host(rotation, i) for i in range(len(occurrences))]


def test_diff_moves_only_future_open_occurrences() -> None:
    planned = expand(SMALL, CAL, 1000)
    today = dt.date(2026, 1, 1)
    stored = [_stored(p, i) for i, p in enumerate(planned)]
    moved = [type(p)(**{**p.__dict__, "host": "广安市"}) for p in planned]
    result = diff(moved, stored, {"1.1", "1.2", "6.1"}, today)
    updated = {p.key for _, p in result.update}
    assert updated == {p.key for p in planned if p.due_date >= today and p.host != "广安市"}


_QUARTER_END = "recurrence: {every: quarter, window_days: 20}"
_VARIANTS = {
    "as signed": lambda t: t,
    "1.1 on the 20th": lambda t: t.replace(_QUARTER_END, "recurrence: {every: quarter, day: 20, window_days: 20}"),
    "6.1 removed": lambda t: t[: t.index('  - id: "6"')],
    "1.1 host order": lambda t: t.replace("rotate: [渝北区, 长寿区, 广安市]", "rotate: [广安市, 渝北区, 长寿区]"),
    "1.2 moved": lambda t: t.replace("once: 2025-10-01", "once: 2026-10-15"),
}

_SOURCE = (FIXTURES / "small.yaml").read_text(encoding="utf-8")
_VARIANT_PLANS = {
    name: expand(parse_agreement(change(_SOURCE), "x.yaml"), CAL, 1000) for name, change in _VARIANTS.items()
}


@settings(deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(sorted(_VARIANTS)), st.integers(1, 60)),
        min_size=1,
        max_size=5,
    )
)
def test_any_sequence_of_amendments_keeps_the_past_and_ends_at_the_final_text(
    steps: list[tuple[str, int]],
) -> None:
    """An in-memory store re-planned by `diff` again and again, each time with a later effective date."""
    texts = _VARIANT_PLANS
    rows: dict[int, StoredOccurrence] = {}
    for i, p in enumerate(texts["as signed"]):
        rows[i] = StoredOccurrence(i, p.key, "planned", p.clause, p.due_date, p.comparable())
    effective = dt.date(2025, 10, 1)
    for name, days in steps:
        effective += dt.timedelta(days=days)
        desired = texts[name]
        past = {oid: r for oid, r in rows.items() if r.due_date < effective}
        plan = diff(desired, rows.values(), {p.clause for p in desired}, effective)
        for oid, p in [*plan.update, *plan.restore]:
            rows[oid] = StoredOccurrence(oid, p.key, "planned", p.clause, p.due_date, p.comparable())
        for oid, _ in plan.cancel:
            rows[oid] = replace(rows[oid], status="cancelled", restorable=True)
        for p in plan.create:
            oid = len(rows)
            rows[oid] = StoredOccurrence(oid, p.key, "planned", p.clause, p.due_date, p.comparable())
        assert {oid: r for oid, r in rows.items() if r.due_date < effective} == past
        live = {
            (r.key, repr(r.comparable)) for r in rows.values() if r.status != "cancelled" and r.due_date >= effective
        }
        assert live == {(p.key, repr(p.comparable())) for p in desired if p.due_date >= effective}


# -- issue 14 schedule forms and host hand-over ----------------------------------------------------

_SCHEDULES = """
  - id: "7"
    title: 报送与走访
    clauses:
      - id: 7.1
        title: 季度报送
        kind: report
        responsible: {party: 渝北区}
        recurrence: {workday: {n: 5, of: quarter}, adjust: next}
      - id: 7.2
        title: 春节走访
        kind: service
        responsible: {party: 长寿区}
        recurrence: {anchor: spring_festival, offset: -3, offset_unit: workdays}
      - id: 7.3
        title: 专项督查
        kind: meeting
        responsible: {party: 广安市}
        recurrence:
          dates:
            - 2026-03-15
            - 2025-10-01
          adjust: next
      - id: 7.4
        title: 利益调处
        kind: service
        responsible: {each_party: true}
        recurrence: {on_demand: true, window_days: 10}
      - id: 7.5
        title: 轮值联席会议
        kind: meeting
        responsible: {from_host: true}
        rotate: [渝北区, 长寿区, 广安市]
        location_from_host: true
        recurrence: {every: half_year}
"""


def _with_schedules(extra: str = _SCHEDULES, source: str | None = None) -> str:
    text = source if source is not None else (FIXTURES / "small.yaml").read_text(encoding="utf-8")
    for party, place in (("渝北区", "渝北区民政局会议室"), ("长寿区", "长寿区委党校"), ("广安市", "广安市委党校")):
        text = text.replace(f"  - name: {party}\n", f"  - name: {party}\n    location: {place}\n", 1)
    return text + extra


def test_new_schedule_forms_expand_with_stable_keys_and_unmoved_working_days() -> None:
    loaded = parse_agreement(_with_schedules(), "x.yaml")
    planned = expand(loaded, CAL, 1000)
    by_clause: dict[str, list[PlannedOccurrence]] = {}
    for p in planned:
        by_clause.setdefault(p.clause, []).append(p)
    # 每季度第5个工作日: keyed by the quarter's first day; 10-14 is a working day, so `adjust: next` leaves it.
    report = {p.key: p.due_date for p in by_clause["7.1"]}
    assert report["7.1@2025-10-01"] == dt.date(2025, 10, 14)
    assert report["7.1@2026-01-01"] == dt.date(2026, 1, 8)
    assert all(CAL.is_workday(d) for d in report.values())
    # 春节前3个工作日: keyed by the festival (2026-02-17, 2027-02-06).
    visit = {p.key: (p.due_date, p.provisional) for p in by_clause["7.2"]}
    assert visit["7.2@2026-02-17"] == (dt.date(2026, 2, 12), False)
    assert visit["7.2@2027-02-06"][1]  # 2027 has no official data yet
    # Explicit dates, in date order, each moved by `adjust` like any nominal date.
    assert [(p.key, p.due_date) for p in by_clause["7.3"]] == [
        ("7.3@2025-10-01", dt.date(2025, 10, 9)),
        ("7.3@2026-03-15", dt.date(2026, 3, 16)),
    ]
    assert "7.4" not in by_clause  # on demand: opened one at a time, never planned
    # Hand-over: each round's host owns it through its coordinating department, at its location.
    rounds = [(p.host, p.party, p.department, p.location) for p in by_clause["7.5"]]
    assert rounds[:3] == [
        ("渝北区", "渝北区", "区委社会工作部", "渝北区民政局会议室"),
        ("长寿区", "长寿区", "区委社会工作部", "长寿区委党校"),
        ("广安市", "广安市", "市委社会工作部", "广安市委党校"),
    ]
    assert all("/" not in p.key for p in by_clause["7.5"])


def test_hand_over_to_a_named_department_of_each_host() -> None:
    named = _with_schedules().replace(
        "responsible: {from_host: true}", "responsible: {from_host: true, department: 团区委}"
    )
    with pytest.raises(AgreementError) as err:
        parse_agreement(named, "x.yaml")
    problems = err.value.problems
    assert [p.message for p in problems] == [
        "条款 7.5：承办方 '长寿区' 没有部门 '团区委'，轮到它承办时无人负责",
        "条款 7.5：承办方 '广安市' 没有部门 '团区委'，轮到它承办时无人负责",
    ]
    assert all(p.line and "department: 团区委" in named.splitlines()[p.line - 1] for p in problems)
    two = _with_schedules().replace(
        "responsible: {from_host: true}\n        rotate: [渝北区, 长寿区, 广安市]",
        "responsible: {from_host: true, department: 区委社会工作部}\n        rotate: [长寿区, 渝北区]",
    )
    planned = [p for p in expand(parse_agreement(two, "x.yaml"), CAL, 1000) if p.clause == "7.5"]
    assert [(p.party, p.department) for p in planned[:2]] == [
        ("长寿区", "区委社会工作部"),
        ("渝北区", "区委社会工作部"),
    ]


@pytest.mark.parametrize(
    ("change", "fragment", "line_text"),
    [
        (
            ("- 2026-03-15", "- 2028-03-15"),
            "条款 7.3 的日期 2028-03-15 不在协议期 2025-09-01 – 2027-08-31 内",
            "2028-03-15",
        ),
        (("- 2026-03-15", "- 2026/3/15"), "不是 YYYY-MM-DD 格式的日期", "2026/3/15"),
        (("    location: 广安市委党校\n", ""), "承办方 '广安市' 没有写 location", "location_from_host"),
        (
            ("rotate: [渝北区, 长寿区, 广安市]\n        location_from_host", "location_from_host"),
            "需要 rotate",
            "id: 7.5",
        ),
        (("{workday: {n: 5, of: quarter}, adjust: next}", "{workday: {n: 0, of: quarter}}"), "n 不能为 0", "workday"),
    ],
)
def test_schedule_errors_point_at_their_line(change: tuple[str, str], fragment: str, line_text: str) -> None:
    text = _with_schedules().replace(*change)
    with pytest.raises(AgreementError) as err:
        parse_agreement(text, "x.yaml")
    [problem] = [p for p in err.value.problems if fragment in p.message]
    assert problem.line is not None and line_text in text.splitlines()[problem.line - 1]


def test_festival_without_a_date_in_the_term_is_refused_in_chinese() -> None:
    text = _with_schedules(
        _SCHEDULES.replace("{anchor: spring_festival, offset: -3, offset_unit: workdays}", "{anchor: qingming}")
    ).replace("  end: 2027-08-31", "  end: 2025-12-31")
    text = text.replace("            - 2026-03-15\n", "")  # outside the shortened term
    with pytest.raises(AgreementError, match="清明节当天）在协议期 2025-09-01 – 2025-12-31 内没有任何日期"):
        expand(parse_agreement(text, "x.yaml"), CAL, 1000)


def test_old_forms_store_and_hash_as_before() -> None:
    """Fields added for the new forms default to None: an old clause's stored recurrence keeps its keys."""
    clause = next(c for prog in SMALL.agreement.programmes for c in prog.clauses if c.id == "1.1")
    assert clause.recurrence.model_dump(mode="json", exclude_none=True) == {
        "every": "quarter",
        "window_days": 20,
        "adjust": "previous",
    }
    assert [p.key for p in expand(SMALL, CAL, 1000) if p.clause == "1.1"][:2] == ["1.1@2025-09-30", "1.1@2025-12-31"]


def test_schedule_fingerprint_follows_the_season_file_only_where_it_matters(tmp_path: Path) -> None:
    """A changed season table re-plans agreements that use seasons; other agreements keep their fingerprint."""
    assert schedule_fingerprint(SMALL, SeasonCalendar()) == ""
    summer = _SCHEDULES.replace("{on_demand: true, window_days: 10}", "{season: summer_vacation, at: end}")
    loaded = parse_agreement(_with_schedules(summer), "x.yaml")
    table = tmp_path / "seasons.yaml"
    table.write_text("seasons:\n  summer_vacation: {start: '07-01', end: '08-31'}\n", encoding="utf-8")
    before = schedule_fingerprint(loaded, SeasonCalendar(table))
    assert [p.due_date for p in expand(loaded, CAL, 1000, SeasonCalendar(table)) if p.clause == "7.4"][:1] == [
        dt.date(2026, 8, 31)
    ]
    table.write_text("seasons:\n  summer_vacation: {start: '07-01', end: '08-25'}\n", encoding="utf-8")
    assert schedule_fingerprint(loaded, SeasonCalendar(table)) not in ("", before)
    assert [p.due_date for p in expand(loaded, CAL, 1000, SeasonCalendar(table)) if p.clause == "7.4"][:1] == [
        dt.date(2026, 8, 25)
    ]
