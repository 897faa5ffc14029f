"""Expand an agreement into dated occurrences and work out what a re-plan changes. Pure logic."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib.metadata import version

from coop.agreement.loader import LoadedAgreement
from coop.agreement.schema import Clause, Party
from coop.calendar import WorkdayCalendar
from coop.errors import AgreementError
from coop.recurrence import nominal_dates

OPEN = frozenset({"planned", "due", "overdue"})


@dataclass(frozen=True)
class PlannedOccurrence:
    """What the agreement says one occurrence should look like; `key` is its identity across re-plans."""

    key: str
    programme: str
    clause: str
    nominal_date: dt.date
    due_date: dt.date
    window_start: dt.date
    host: str | None
    party: str
    department: str
    provisional: bool
    targets: Mapping[str, int] = field(default_factory=dict)

    def comparable(self) -> tuple[object, ...]:
        """Fields whose change makes a re-plan touch the stored row."""
        return (
            self.due_date,
            self.window_start,
            self.host,
            self.party,
            self.department,
            self.provisional,
            dict(self.targets),
        )


def rotate_host(rotation: list[str], index: int) -> str | None:
    """The n-th occurrence of a clause is hosted by rotation[n mod len]; no rotation, no host."""
    return rotation[index % len(rotation)] if rotation else None


def _owners(clause: Clause, parties: list[Party]) -> list[tuple[str, str]]:
    resp = clause.responsible
    if resp.each_party:
        return [(p.name, resp.department or p.coordinator) for p in parties]
    party = next(p for p in parties if p.name == resp.party)
    return [(party.name, resp.department or party.coordinator)]


def expand(loaded: LoadedAgreement, calendar: WorkdayCalendar, limit: int) -> list[PlannedOccurrence]:
    """All occurrences over the term; a clause that yields too many raises an error at its line.

    The inner loop runs once per occurrence (millions province-wide), so everything that is the
    same for a whole clause is worked out before it, and occurrences of a clause share one
    `targets` mapping (read-only by contract, like the frozen dataclass holding it).
    """
    agreement = loaded.agreement
    term = agreement.term
    planned: list[PlannedOccurrence] = []
    append = planned.append
    for programme in agreement.programmes:
        for clause in programme.clauses:
            rec = clause.recurrence
            try:
                dates = nominal_dates(rec, term, limit)
            except ValueError as exc:
                raise loaded.problem(clause.id, f"'recurrence': {exc}") from None
            if not dates:
                # e.g. BYMONTH=2;BYMONTHDAY=30, or a year-end date in a short term: the clause would never be tracked.
                raise loaded.problem(
                    clause.id, f"'recurrence' yields no date within the term {term.start} – {term.end}; check the rule"
                )
            owners = _owners(clause, agreement.parties)
            suffixed = [(party, department, f"/{party}" if len(owners) > 1 else "") for party, department in owners]
            targets = dict(clause.targets)
            window = dt.timedelta(days=rec.window_days)
            rotation, clause_id, programme_id = clause.rotate, clause.id, programme.id
            for index, nominal in enumerate(dates):
                due, provisional = calendar.adjust(nominal, rec.adjust)
                if rec.deadline is not None:
                    window_start = term.start
                else:
                    window_start = max(term.start, due - window)
                if window_start > due:
                    window_start = due
                host = rotation[index % len(rotation)] if rotation else None
                stem = f"{clause_id}@{nominal.isoformat()}"
                for party, department, suffix in suffixed:
                    append(
                        PlannedOccurrence(
                            stem + suffix,
                            programme_id,
                            clause_id,
                            nominal,
                            due,
                            window_start,
                            host,
                            party,
                            department,
                            provisional,
                            targets,
                        )
                    )
    return planned


@dataclass(frozen=True)
class StoredOccurrence:
    """The parts of a stored row a re-plan compares against."""

    id: int
    key: str
    status: str
    clause: str
    due_date: dt.date
    comparable: tuple[object, ...]


@dataclass
class PlanDiff:
    create: list[PlannedOccurrence] = field(default_factory=list)
    update: list[tuple[int, PlannedOccurrence]] = field(default_factory=list)
    cancel: list[tuple[int, str]] = field(default_factory=list)  # (occurrence id, reason)
    kept: int = 0

    @property
    def empty(self) -> bool:
        return not (self.create or self.update or self.cancel)


def diff(
    desired: Iterable[PlannedOccurrence],
    stored: Iterable[StoredOccurrence],
    active_clauses: set[str],
    today: dt.date,
) -> PlanDiff:
    """Future open occurrences follow the agreement; done, waived, cancelled and past ones are history."""
    result = PlanDiff()
    by_key = {s.key: s for s in stored}
    for want in desired:
        have = by_key.pop(want.key, None)
        if have is None:
            result.create.append(want)
        elif have.status in OPEN and have.due_date >= today and have.comparable != want.comparable():
            result.update.append((have.id, want))
        else:
            result.kept += 1
    for gone in by_key.values():
        if gone.status not in OPEN:
            continue
        if gone.clause not in active_clauses:
            result.cancel.append((gone.id, "条款已从协议中删除"))
        elif gone.due_date >= today:
            result.cancel.append((gone.id, "协议修订后该日期不再安排"))
    return result


def check_unique_keys(planned: list[PlannedOccurrence], loaded: LoadedAgreement) -> None:
    """Two recurrence dates collapsing onto one key would silently merge tasks; refuse instead."""
    seen: set[str] = set()
    for p in planned:
        if p.key in seen:
            raise AgreementError([loaded.problem(p.clause, f"produces the date {p.nominal_date} twice").problems[0]])
        seen.add(p.key)


def calendar_fingerprint(calendar: WorkdayCalendar) -> str:
    """Changes when official holiday data or the provisional overrides change, forcing a re-plan."""
    material = f"{version('chinesecalendar')}|{version('holidays')}|".encode()
    try:
        material += calendar.overrides_path.read_bytes()
    except OSError:
        pass
    return hashlib.sha256(material).hexdigest()[:16]
