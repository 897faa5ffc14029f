"""What a re-plan tells the coordinator: each touched occurrence as a PlanChange, the lines clause by clause, and
the fingerprints and key check that decide whether and what to re-plan."""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import hashlib
import pickle
from importlib.metadata import version
from pathlib import Path

import pytest
from conftest import FIXTURES
from pydantic import TypeAdapter

from coop.agreement.loader import load_agreement
from coop.artifacts import PlanRun
from coop.calendar import WorkdayCalendar
from coop.errors import AgreementError
from coop.planning import (
    DeferredChanges,
    PlanChange,
    PlanDiff,
    PlannedOccurrence,
    PlanResult,
    StoredOccurrence,
    calendar_fingerprint,
    check_unique_keys,
    diff,
    expand,
    render_changes,
)

D = dt.date
SMALL = load_agreement(FIXTURES / "small.yaml")


def planned(
    clause: str,
    day: dt.date,
    party: str = "渝北区",
    host: str | None = None,
    department: str = "区委社会工作部",
    due: dt.date | None = None,
) -> PlannedOccurrence:
    due = due or day
    suffix = f"/{party}" if clause == "1.2" else ""
    return PlannedOccurrence(
        f"{clause}@{day.isoformat()}{suffix}",
        "1",
        clause,
        day,
        due,
        due - dt.timedelta(days=10),
        host,
        party,
        department,
        False,
    )


def stored(
    oid: int, p: PlannedOccurrence, status: str = "planned", due: dt.date | None = None, restorable: bool = False
) -> StoredOccurrence:
    return StoredOccurrence(oid, p.key, status, p.clause, due or p.due_date, p.comparable(), restorable)


def test_every_kind_of_change_names_its_clause_key_party_and_dates() -> None:
    moved_was = planned("1.10", D(2026, 3, 31))
    extended_was = planned("1.10", D(2026, 6, 30))
    changed_was = planned("1.2", D(2026, 4, 10), host="渝北区")
    cancelled_was = planned("1.2", D(2026, 5, 10), party="长寿区")
    restored_was = planned("1.2", D(2026, 6, 10))
    untracked_was = planned("6.1", D(2025, 9, 10))
    tracked_was = planned("6.1", D(2025, 12, 10))
    rows = [
        stored(1, moved_was),
        stored(2, extended_was, due=D(2026, 7, 20)),  # a coordinator extended it; the plan still says 30 June
        stored(3, changed_was),
        stored(4, cancelled_was),
        stored(5, restored_was, status="cancelled", due=D(2026, 6, 12), restorable=True),
        stored(6, untracked_was, status="overdue"),
        stored(7, tracked_was, status="untracked"),
    ]
    added = planned("1.2", D(2026, 9, 10), party="广安市")
    result = PlanDiff(
        create=[added],
        update=[
            (1, planned("1.10", D(2026, 3, 31), due=D(2026, 4, 2))),
            (2, planned("1.10", D(2026, 6, 30), due=D(2026, 7, 1))),
            (3, planned("1.2", D(2026, 4, 10), host="长寿区", department="团区委")),
        ],
        cancel=[(4, "条款已从协议中删除")],
        restore=[(5, planned("1.2", D(2026, 6, 10), due=D(2026, 6, 11)))],
        untrack=[6],
        track=[7],
    )
    assert result.changes(rows) == [
        # clauses in number order (1.2 before 1.10); inside one, cancellations first, then new rows, then the rest
        # in stored order
        PlanChange("cancelled", "1.2", cancelled_was.key, "长寿区", D(2026, 5, 10), None, "条款已从协议中删除"),
        PlanChange("added", "1.2", added.key, "广安市", None, D(2026, 9, 10)),
        PlanChange("changed", "1.2", changed_was.key, "渝北区", D(2026, 4, 10), D(2026, 4, 10), "承办方、责任部门"),
        PlanChange("restored", "1.2", restored_was.key, "渝北区", D(2026, 6, 12), D(2026, 6, 11)),
        PlanChange("moved", "1.10", moved_was.key, "渝北区", D(2026, 3, 31), D(2026, 4, 2)),
        PlanChange("moved", "1.10", extended_was.key, "渝北区", D(2026, 6, 30), D(2026, 7, 1)),
        PlanChange("untracked", "6.1", untracked_was.key, "渝北区", D(2025, 9, 10)),
        PlanChange("tracked", "6.1", tracked_was.key, "渝北区", D(2025, 12, 10)),
    ]


def test_a_change_reads_as_one_line_with_its_dates_and_reason() -> None:
    assert PlanChange("moved", "1.1", "1.1@2026-03-31", "渝北区", D(2026, 3, 31), D(2026, 4, 2)).line() == (
        "条款 1.1 调整日期 1.1@2026-03-31（截止 2026-03-31 → 2026-04-02）"
    )
    assert PlanChange(
        "cancelled", "6.1", "6.1@2026-03-10", "渝北区", D(2026, 3, 10), None, "条款已从协议中删除"
    ).line() == ("条款 6.1 取消 6.1@2026-03-10（截止 2026-03-10）：条款已从协议中删除")
    assert PlanChange("added", "1.2", "1.2@2026-10-01/长寿区", "长寿区", None, D(2026, 10, 9)).line() == (
        "条款 1.2 新增 1.2@2026-10-01/长寿区（截止 2026-10-09）"
    )


def test_changes_render_one_line_per_clause_and_kind_in_label_order() -> None:
    changes = [
        PlanChange("added", "1.1", "1.1@2026-09-30", "渝北区", None, D(2026, 9, 30)),
        PlanChange("moved", "1.1", "1.1@2026-03-31", "渝北区", D(2026, 3, 31), D(2026, 4, 2)),
        PlanChange("moved", "1.1", "1.1@2026-06-30", "渝北区", D(2026, 6, 30), D(2026, 7, 1)),
        # an each-party clause: one row per party on the same date collapses into `date ×N`
        PlanChange("cancelled", "1.2", "1.2@2026-10-01/渝北区", "渝北区", D(2026, 10, 9), None, "条款已从协议中删除"),
        PlanChange("cancelled", "1.2", "1.2@2026-10-01/长寿区", "长寿区", D(2026, 10, 9), None, "条款已从协议中删除"),
        PlanChange("cancelled", "1.2", "1.2@2027-10-01/渝北区", "渝北区", D(2027, 10, 8), None, "条款已从协议中删除"),
        PlanChange("changed", "1.1", "1.1@2026-12-31", "渝北区", D(2026, 12, 31), D(2026, 12, 31), "承办方"),
    ]
    assert render_changes(changes) == [
        "条款 1.1：调整日期 2 项：2026-03-31 → 2026-04-02、2026-06-30 → 2026-07-01",
        "条款 1.1：调整内容 1 项（承办方）：2026-12-31",
        "条款 1.1：新增 1 项：2026-09-30",
        "条款 1.2：取消 3 项（条款已从协议中删除）：2026-10-09 ×2、2027-10-08",
    ]
    result = PlanResult("test-small", 2, False, changes=changes)
    assert result.change_lines() == render_changes(changes)


def test_a_long_list_of_dates_is_cut_and_says_how_many() -> None:
    def added(n: int) -> list[PlanChange]:
        days = [D(2026, 1, 1) + dt.timedelta(days=i) for i in range(n)]
        return [PlanChange("added", "1.1", f"1.1@{d}", "渝北区", None, d) for d in days]

    [twelve] = render_changes(added(12))
    assert twelve.endswith("2026-01-11、2026-01-12")
    [thirteen] = render_changes(added(13))
    assert thirteen.startswith("条款 1.1：新增 13 项：2026-01-01、")
    assert thirteen.endswith("2026-01-11、2026-01-12 等（共 13 个日期）")
    [three] = render_changes(added(3), per_clause=2)
    assert three == "条款 1.1：新增 3 项：2026-01-01、2026-01-02 等（共 3 个日期）"


def test_a_clause_producing_one_date_twice_is_refused_at_its_line() -> None:
    occurrences = expand(SMALL, WorkdayCalendar(), 1000)
    check_unique_keys(occurrences, SMALL)  # the fixture's keys are unique
    first = next(p for p in occurrences if p.clause == "1.1")
    with pytest.raises(AgreementError) as exc:
        check_unique_keys([*occurrences, first], SMALL)
    line = SMALL.clause_lines["1.1"]
    assert str(exc.value) == f"{SMALL.path}:{line}: clause 1.1: produces the date {first.nominal_date} twice"


def test_the_calendar_fingerprint_covers_both_libraries_and_the_overrides_file(tmp_path: Path) -> None:
    """Changing how it is computed re-plans every agreement once, so the formula is pinned here."""
    libraries = f"{version('chinesecalendar')}|{version('holidays')}|".encode()
    overrides = tmp_path / "overrides.yaml"
    overrides.write_text("workdays: [2027-03-06]\n", encoding="utf-8")
    cal = WorkdayCalendar(overrides)
    fingerprint = calendar_fingerprint(cal)
    assert fingerprint == hashlib.sha256(libraries + overrides.read_bytes()).hexdigest()[:16]
    assert calendar_fingerprint(WorkdayCalendar(overrides)) == fingerprint
    overrides.write_text("workdays: [2027-03-13]\n", encoding="utf-8")
    assert calendar_fingerprint(cal) != fingerprint
    overrides.unlink()  # gone after start-up: the libraries alone
    assert calendar_fingerprint(cal) == hashlib.sha256(libraries).hexdigest()[:16]


def test_clauses_are_listed_in_number_order_with_lettered_parts_after_numbered_ones() -> None:
    created = [planned(code, D(2026, 3, 31)) for code in ("6.1", "1.a", "1.10", "1.2", "1.b")]
    assert [c.clause for c in PlanDiff(create=created).changes([])] == ["1.2", "1.10", "1.a", "1.b", "6.1"]


def test_an_untracked_row_on_or_after_a_moved_tracking_date_is_tracked_again() -> None:
    p = planned("1.1", D(2026, 3, 31))
    rows = [stored(1, p, status="untracked")]
    again = diff([p], rows, {"1.1"}, D(2026, 1, 1), tracking_from=D(2026, 3, 31))
    assert (again.track, again.untrack, again.kept) == ([1], [], 1)
    assert (again.effective_from, again.tracking_from) == (D(2026, 1, 1), D(2026, 3, 31))
    still = diff([p], rows, {"1.1"}, D(2026, 1, 1), tracking_from=D(2026, 4, 1))
    assert (still.track, still.untrack) == ([], [])


def test_a_clause_lists_its_new_rows_before_its_stored_ones() -> None:
    march, june = planned("1.1", D(2026, 3, 31)), planned("1.1", D(2026, 6, 30))
    december = planned("1.1", D(2026, 12, 31))
    result = PlanDiff(
        create=[december],
        update=[(1, planned("1.1", D(2026, 3, 31), host="长寿区")), (2, planned("1.1", D(2026, 6, 30), host="长寿区"))],
    )
    assert [c.key for c in result.changes([stored(1, march), stored(2, june)])] == [december.key, march.key, june.key]


def test_a_deferred_change_list_is_built_once_on_first_read_and_reads_as_the_list_everywhere() -> None:
    created = [planned(code, D(2026, 3, 31)) for code in ("6.1", "1.2", "1.10")]
    eager = PlanDiff(create=created).changes([])
    builds: list[int] = []

    def build() -> list[PlanChange]:
        builds.append(1)
        return PlanDiff(create=created).changes([])

    def deferred() -> PlanResult:
        return PlanResult("test-small", 1, False, created=3, changes=DeferredChanges(build))

    result = deferred()
    assert builds == []  # nothing built until read
    assert result.changes == eager and result.changes is result.changes and builds == [1]
    assert result == PlanResult("test-small", 1, False, created=3, changes=eager)
    assert result.change_lines() == render_changes(eager)
    # Copies, pickles (Prefect's results) and pydantic (Prefect's JSON) carry the list, not the function.
    for made in (pickle.loads(pickle.dumps(deferred())), copy.deepcopy(deferred()), dataclasses.replace(deferred())):
        assert made.changes == eager and not isinstance(made.__dict__["changes"], DeferredChanges)
    assert "DeferredChanges" not in repr(deferred())
    assert dataclasses.asdict(deferred())["changes"] == [dataclasses.asdict(c) for c in eager]
    adapter = TypeAdapter(PlanRun)
    run = PlanRun("a.yaml", None, deferred())
    assert adapter.validate_json(adapter.dump_json(run)) == run
    # The default is a fresh list per result, also when a validator (not __init__) fills it in.
    empty = PlanResult("a", 1, True)
    empty.changes.append(eager[0])
    assert PlanResult("a", 1, True).changes == []
    assert TypeAdapter(PlanResult).validate_python({"agreement_id": "a", "version": 1, "unchanged": True}).changes == []
