"""The date → status rule of an open occurrence, once: the sweep, the audit of a past day and the pages all use it.

An open occurrence is `planned` until its window opens, `due` from the window start to the due date, and
`overdue` after the due date. Dates only move an open status forward (planned → due → overdue), never back:
moving a due date later is a coordinator's or a re-plan's act, recorded in the ledger, not a sweep's.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from models.tables import OPEN_STATUSES, OccurrenceStatus

_ORDER = {OccurrenceStatus.planned: 0, OccurrenceStatus.due: 1, OccurrenceStatus.overdue: 2}


def status_by_date(window_start: dt.date, due_date: dt.date, day: dt.date) -> OccurrenceStatus:
    """What the dates alone say on `day`: overdue after the due date, due once the window has opened, else planned."""
    if due_date < day:
        return OccurrenceStatus.overdue
    if window_start <= day:
        return OccurrenceStatus.due
    return OccurrenceStatus.planned


def status_on(status: str, window_start: dt.date, due_date: dt.date, day: dt.date) -> OccurrenceStatus:
    """An occurrence's status on `day`: an open one moved forward by its dates; any other status as it is."""
    current = OccurrenceStatus(status)
    if current not in OPEN_STATUSES:
        return current
    by_date = status_by_date(window_start, due_date, day)
    return by_date if _ORDER[by_date] > _ORDER[current] else current


@dataclass(frozen=True)
class SweepResult:
    """How many open occurrences a sweep moved on."""

    became_due: int
    became_overdue: int
