"""The auditors' dashboard figures from one streamed pass over occurrence states (rules: `coop.audit`).

Rates per department, party, programme and due month, a department × month count of overdue tasks, the oldest
overdue tasks and the term-target roll-up — the same `Rates` arithmetic as `coop audit rates` and the report.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from coop.audit import AuditSummary, Rates, group_key, summarise_states
from coop.notify.policy import WorkdayArithmetic


@dataclass
class OverdueHeat:
    """Overdue tasks as of the audit day, counted per responsible department and month of the due date."""

    departments: list[str] = field(default_factory=list)
    months: list[str] = field(default_factory=list)
    cells: list[tuple[int, int, int]] = field(default_factory=list)  # (month index, department index, overdue)

    @property
    def peak(self) -> int:
        return max((c[2] for c in self.cells), default=0)


@dataclass
class DashboardFigures:
    """Everything the dashboard draws; `summary` is grouped by department and carries the overdue list."""

    summary: AuditSummary
    by_party: list[Rates]
    by_programme: list[Rates]
    by_month: list[Rates]
    heat: OverdueHeat


class _Groups:
    """Rates per key for the groupings the single pass adds beside the summary's own."""

    def __init__(self) -> None:
        self.party: dict[str, Rates] = {}
        self.programme: dict[str, Rates] = {}
        self.month: dict[str, Rates] = {}
        self.cells: dict[tuple[str, str], Rates] = {}

    def add(self, state: Any, as_of: dt.date) -> None:
        for table, key in (
            (self.party, group_key(state, "party")),
            (self.programme, group_key(state, "programme")),
            (self.month, group_key(state, "month")),
        ):
            table.setdefault(key, Rates(key)).add(state, as_of)
        cell = (group_key(state, "department"), group_key(state, "month"))
        self.cells.setdefault(cell, Rates(f"{cell[0]} {cell[1]}")).add(state, as_of)

    def heat(self) -> OverdueHeat:
        """Only cells that were owed (expected) by the audit day: a department with nothing due is not 'green'."""
        owed = {cell: r for cell, r in self.cells.items() if r.expected}
        departments = sorted({d for d, _ in owed})
        months = sorted({m for _, m in owed})
        d_index = {d: i for i, d in enumerate(departments)}
        m_index = {m: i for i, m in enumerate(months)}
        cells = [(m_index[m], d_index[d], r.overdue) for (d, m), r in sorted(owed.items())]
        return OverdueHeat(departments, months, cells)


def dashboard_figures(
    states: Iterable[Any], as_of: dt.date, overdue_limit: int = 100, calendar: WorkdayArithmetic | None = None
) -> DashboardFigures:
    """One pass: the department summary (with overdue list and progress) and the other groupings beside it."""
    groups = _Groups()

    def feeding() -> Iterator[Any]:
        for state in states:
            groups.add(state, as_of)
            yield state

    summary = summarise_states(feeding(), as_of, "department", overdue_limit, calendar)
    return DashboardFigures(
        summary=summary,
        by_party=[groups.party[k] for k in sorted(groups.party)],
        by_programme=[groups.programme[k] for k in sorted(groups.programme)],
        by_month=[groups.month[k] for k in sorted(groups.month)],
        heat=groups.heat(),
    )
