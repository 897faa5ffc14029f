"""Read-only audit queries: occurrence states now or on a past date, and the full history of one item.

Everything streams (`yield_per`) so a million occurrences never sit in memory. A past state is rebuilt
from the ledger: when an occurrence was created (the plan event that inserted it), which status event
came last before that day, and which due date it had before later re-plans moved it.
"""

from __future__ import annotations

import bisect
import datetime as dt
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, select
from sqlmodel import Session, col

from coop.errors import CoopError, UnknownOccurrence
from coop.labels import event_label
from coop.occurrence_status import status_by_date
from coop.store.queries import AnySelect, department_named, join_context, occurrence_rows
from models.read import ClauseHistoryPublic, HistoryEventPublic, OccurrenceHistoryPublic
from models.tables import (
    CLOSED_STATUSES,
    Agency,
    AgreementRecord,
    AgreementVersion,
    ClauseRecord,
    Department,
    LedgerEvent,
    Occurrence,
    OccurrenceStatus,
    Report,
)

BATCH = 2000
# The audit day ends at midnight here unless the caller passes the deployment's time zone (Settings.timezone).
SHANGHAI = ZoneInfo("Asia/Shanghai")
# Events that set an occurrence's status; None reopens it (a re-plan restored it, or tracks it again).
STATUS_EVENTS: dict[str, str | None] = {
    "occurrence_done": "done",
    "occurrence_waived": "waived",
    "occurrence_cancelled": "cancelled",
    "occurrence_untracked": "untracked",
    "occurrence_restored": None,
    "occurrence_tracked": None,
    "occurrence_suspended": "suspended",
    "occurrence_resumed": None,
    "occurrence_reopened": None,
}
# Events whose payload says what the due date / department was before them (re-plans and coordinator operations).
CHANGE_EVENTS = ("occurrence_replanned", "occurrence_restored", "occurrence_extended", "occurrence_reassigned")
# Statuses the dates do not decide (untracked: before tracking_from, history that is never overdue; suspended: a
# coordinator stopped the overdue clock).
CLOSED: frozenset[str] = CLOSED_STATUSES | {OccurrenceStatus.untracked, OccurrenceStatus.suspended}
Status = Literal["planned", "due", "overdue", "done", "waived", "cancelled", "untracked", "suspended"]


@dataclass(frozen=True)
class AuditFilter:
    """Which occurrences an audit looks at; every field optional, all given ones must match."""

    agreement: str | None = None
    programme: str | None = None
    clause: str | None = None
    party: str | None = None
    department: str | None = None  # "党派/部门" or the numeric department id
    due_from: dt.date | None = None
    due_to: dt.date | None = None


@dataclass
class OccurrenceState:
    """One occurrence as it stood on the audit day: status, completion date, and what had been reported."""

    id: int
    agreement_id: str
    agreement_title: str
    programme: str
    clause: str
    clause_title: str
    party: str
    department: str
    host: str | None
    window_start: dt.date
    due_date: dt.date
    status: Status
    provisional: bool
    completed_on: dt.date | None = None
    targets: dict[str, int] = field(default_factory=dict)
    reports: int = 0
    participants: int = 0
    metrics: dict[str, int] = field(default_factory=dict)
    evidence: int = 0
    parts_required: int = 1  # a joint (`sign_off: all`) task: its responsible party and every co-organiser
    parts_done: int = 0  # parties whose part was reported done by the audit day
    location: str | None = None  # the round's place (the host's), else the clause's

    @property
    def on_time(self) -> bool | None:
        if self.status != "done" or self.completed_on is None:
            return None
        return self.completed_on <= self.due_date


def day_end_utc(day: dt.date, tz: dt.tzinfo = SHANGHAI) -> dt.datetime:
    """The first instant after `day` ends in `tz` (the deployment's time zone), in UTC."""
    return dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tz).astimezone(dt.UTC)


def local_date(moment: dt.datetime, tz: dt.tzinfo = SHANGHAI) -> dt.date:
    """The day `moment` falls on in `tz`; a naive moment is read as UTC (how the databases hand them back)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(tz).date()


def _apply_filter(query: AnySelect, flt: AuditFilter, *, joined: bool = False) -> AnySelect:
    """Joins clause/department/party (unless `joined`) and narrows `query` (which has Occurrence) to the filter."""
    if not joined:
        query = join_context(query)
    if flt.agreement:
        query = query.where(col(Occurrence.agreement_id) == flt.agreement)
    if flt.programme:
        query = query.where(col(ClauseRecord.programme_code) == flt.programme)
    if flt.clause:
        query = query.where(col(ClauseRecord.code) == flt.clause)
    if flt.party:
        query = query.where(col(Agency.name) == flt.party)
    if flt.department:
        if flt.department.isdigit():
            query = query.where(col(Department.id) == (int(flt.department) if int(flt.department) < 2**31 else -1))
        else:
            party, _, name = flt.department.partition("/")
            query = query.where(department_named(party, name))
    if flt.due_from:
        query = query.where(col(Occurrence.due_date) >= flt.due_from)
    if flt.due_to:
        query = query.where(col(Occurrence.due_date) <= flt.due_to)
    return query


def occurrence_states(
    session: Session, flt: AuditFilter, as_of: dt.date, *, from_ledger: bool = True, tz: dt.tzinfo = SHANGHAI
) -> Iterator[OccurrenceState]:
    """Every matching occurrence's state at the end of `as_of`, in id order, streamed.

    With `from_ledger=False` the stored status is used (right only for today; cheaper); with True the state
    is rebuilt from the ledger, which is the only honest answer for a past day.
    """
    end = day_end_utc(as_of, tz)
    base = _apply_filter(occurrence_rows(), flt, joined=True).add_columns(
        col(ClauseRecord.sign_off).label("sign_off"),
        col(ClauseRecord.co_organisers).label("co_organisers"),
    )
    created_in: dict[str, list[tuple[int, dt.datetime]]] = {}
    if from_ledger:
        # An occurrence's rank within its agreement says which plan created it; rank only the agreements the
        # filter touches, not the whole table (a department × quarter cell then costs milliseconds, not seconds).
        # (Named in a first small query, so PostgreSQL plans the ranking from the (agreement_id, key) index.)
        touched = (
            session.execute(_apply_filter(select(col(Occurrence.agreement_id)).select_from(Occurrence), flt).distinct())
            .scalars()
            .all()
        )
        opened = _opened_at(session, sorted(touched))
        ranked = (
            select(
                col(Occurrence.id).label("oid"),
                func.row_number()
                .over(partition_by=col(Occurrence.agreement_id), order_by=col(Occurrence.id))
                .label("rank"),
            ).where(col(Occurrence.agreement_id).in_(sorted(touched)), _planned_rows())
        ).subquery()
        base = base.add_columns(ranked.c.rank).outerjoin(ranked, ranked.c.oid == col(Occurrence.id))
        created_in = _plan_thresholds(session, flt.agreement)
    rows = session.execute(base.order_by(col(Occurrence.id)).execution_options(yield_per=BATCH))

    report_query = _apply_filter(
        select(
            col(Report.occurrence_id),
            col(Report.participants),
            col(Report.metrics),
            col(Report.evidence),
            col(Report.outcome),
            col(Report.party_id),
        )
        .select_from(Report)
        .join(Occurrence, col(Occurrence.id) == col(Report.occurrence_id)),
        flt,
    ).where(col(Report.at) < end)
    reports = _Cursor(
        session.execute(
            report_query.order_by(col(Report.occurrence_id), col(Report.id)).execution_options(yield_per=BATCH)
        )
    )
    events: _Cursor | None = None
    if from_ledger:
        event_query = _apply_filter(
            select(col(LedgerEvent.occurrence_id), col(LedgerEvent.at), col(LedgerEvent.kind), col(LedgerEvent.payload))
            .select_from(LedgerEvent)
            .join(Occurrence, col(Occurrence.id) == col(LedgerEvent.occurrence_id)),
            flt,
        ).where(col(LedgerEvent.kind).in_([*STATUS_EVENTS, *CHANGE_EVENTS]))
        events = _Cursor(
            session.execute(
                event_query.order_by(col(LedgerEvent.occurrence_id), col(LedgerEvent.id)).execution_options(
                    yield_per=BATCH
                )
            )
        )

    for row in rows:
        oid = row.id
        own_reports = reports.take(oid)
        own_events = events.take(oid) if events is not None else []
        if from_ledger:
            created_at = (
                opened.get(oid) if row.rank is None else _created_at(created_in.get(row.agreement_id, []), row.rank)
            )
            if created_at is None or _aware(created_at) >= end:
                continue
            past = _state_from_events(own_events, end, row.due_date, row.window_start, tz)
            status, completed_on, due_date, window_start = past.status, past.completed_on, past.due_date, past.window
            party, department = past.responsible or (row.party, row.department)
        else:
            status = str(row.status) if str(row.status) in CLOSED else None
            completed_on = local_date(row.closed_at, tz) if status == "done" and row.closed_at is not None else None
            due_date, window_start, party, department = row.due_date, row.window_start, row.party, row.department
        if status is None:
            status = str(status_by_date(window_start, due_date, as_of))
        state = OccurrenceState(
            id=oid,
            agreement_id=row.agreement_id,
            agreement_title=row.agreement_title,
            programme=row.programme,
            clause=row.clause,
            clause_title=row.clause_title,
            party=party,
            department=department,
            host=row.host,
            window_start=window_start,
            due_date=due_date,
            status=status,  # type: ignore[arg-type]
            provisional=bool(row.provisional),
            completed_on=completed_on,
            targets=dict(row.targets or {}),
            location=row.location,
        )
        if row.sign_off == "all":
            # A joint task needs the responsible party's part and each co-organiser's (rates count the parts).
            state.parts_required = 1 + len(set(row.co_organisers or []) - {row.party})
        parts: set[int | None] = set()
        for _, participants, metrics, evidence, outcome, party_id in own_reports:
            if outcome == "done":
                parts.add(party_id)
            state.reports += 1
            state.participants += participants or 0
            state.evidence += len(evidence or [])
            for name, value in (metrics or {}).items():
                state.metrics[name] = state.metrics.get(name, 0) + int(value)
        state.parts_done = state.parts_required if status == "done" else min(len(parts), state.parts_required)
        yield state


OPENED = "occurrence_opened"  # coop.services.on_demand: a row opened by hand, not created by a plan


def _planned_rows() -> Any:
    """Rows a plan created: ranked by id against the plans' running totals (opened rows are not counted)."""
    opened = select(col(LedgerEvent.occurrence_id)).where(
        col(LedgerEvent.kind) == OPENED, col(LedgerEvent.occurrence_id).is_not(None)
    )
    return col(Occurrence.id).not_in(opened)


def _opened_at(session: Session, agreements: list[str]) -> dict[int, dt.datetime]:
    """When each opened occurrence of `agreements` was opened."""
    query = select(col(LedgerEvent.occurrence_id), col(LedgerEvent.at)).where(
        col(LedgerEvent.kind) == OPENED, col(LedgerEvent.agreement_id).in_(agreements)
    )
    return {oid: at for oid, at in session.execute(query) if oid is not None}


class _Cursor:
    """A sorted stream of rows keyed by occurrence id, consumed in step with the occurrence stream."""

    def __init__(self, result: Any) -> None:
        self._rows = iter(result)
        self._head: Any = next(self._rows, None)

    def take(self, occurrence_id: int) -> list[Any]:
        while self._head is not None and self._head[0] < occurrence_id:
            self._head = next(self._rows, None)
        out = []
        while self._head is not None and self._head[0] == occurrence_id:
            out.append(self._head)
            self._head = next(self._rows, None)
        return out


def _plan_thresholds(session: Session, agreement: str | None) -> dict[str, list[tuple[int, dt.datetime]]]:
    """Per agreement: (occurrences created so far, when) after each plan event, in order.

    Occurrence ids grow with insertion and each plan inserts its new rows in one batch, so the n-th
    occurrence of an agreement (by id) was created by the first plan whose running total reaches n.
    """
    query = select(col(LedgerEvent.agreement_id), col(LedgerEvent.at), col(LedgerEvent.payload)).where(
        col(LedgerEvent.kind) == "agreement_planned"
    )
    if agreement:
        query = query.where(col(LedgerEvent.agreement_id) == agreement)
    out: dict[str, list[tuple[int, dt.datetime]]] = {}
    for agreement_id, at, payload in session.execute(query.order_by(col(LedgerEvent.id))):
        steps = out.setdefault(agreement_id, [])
        total = (steps[-1][0] if steps else 0) + int(json.loads(payload).get("created", 0))
        steps.append((total, at))
    return out


def _created_at(steps: list[tuple[int, dt.datetime]], rank: int) -> dt.datetime | None:
    index = bisect.bisect_left(steps, rank, key=lambda step: step[0])
    return steps[index][1] if index < len(steps) else None


@dataclass(frozen=True)
class _PastState:
    status: str | None  # a status the dates do not decide, or None (open: the dates decide)
    completed_on: dt.date | None
    due_date: dt.date
    window: dt.date
    responsible: tuple[str, str] | None  # (party, department) when a later event moved the task away


def _state_from_events(
    events: list[Any], end: dt.datetime, current_due: dt.date, current_window: dt.date, tz: dt.tzinfo
) -> _PastState:
    """An occurrence as of `end`, from its events in id order.

    Status events before `end` set the status (a backfilled completion counts from its real `completed_on`, a
    report from the day it was made). Events after `end` say what the due date and department were before them:
    the first later change's `before` is the state at `end`. Re-plans move the window with the due date;
    extensions and resumptions move only the due date.
    """
    status: str | None = None
    completed_on: dt.date | None = None
    due: dt.date | None = None
    window_shift = dt.timedelta()
    responsible: tuple[str, str] | None = None
    for _, at, kind, payload in events:
        at = at if at.tzinfo else at.replace(tzinfo=dt.UTC)
        if at < end:
            if kind in STATUS_EVENTS:
                status = STATUS_EVENTS[kind]
                completed_on = _completed_on(payload, at, tz) if status == "done" else None
            continue
        if kind not in (*CHANGE_EVENTS, "occurrence_resumed"):
            continue
        data = json.loads(payload)
        before, after = data.get("before") or {}, data.get("after") or {}
        if due is None and before.get("due_date"):
            due = dt.date.fromisoformat(before["due_date"])
        if kind in ("occurrence_replanned", "occurrence_restored") and before.get("due_date") and after.get("due_date"):
            window_shift += dt.date.fromisoformat(after["due_date"]) - dt.date.fromisoformat(before["due_date"])
        if responsible is None:
            responsible = _department_before(kind, before, after)
    due_date = current_due if due is None else due
    return _PastState(status, completed_on, due_date, current_window - window_shift, responsible)


def _completed_on(payload: str, at: dt.datetime, tz: dt.tzinfo) -> dt.date:
    """A backfill carries the real completion day; any other report completes on the day it was made."""
    data = json.loads(payload)
    recorded = data.get("completed_on") if isinstance(data, dict) else None
    return dt.date.fromisoformat(recorded) if recorded else local_date(at, tz)


def _department_before(kind: str, before: dict[str, Any], after: dict[str, Any]) -> tuple[str, str] | None:
    if kind == "occurrence_reassigned" and "/" in str(before.get("department", "")):
        party, _, name = str(before["department"]).rpartition("/")
        return party, name
    moved = (before.get("party"), before.get("department")) != (after.get("party"), after.get("department"))
    if kind in ("occurrence_replanned", "occurrence_restored") and moved and before.get("department"):
        return str(before.get("party") or ""), str(before["department"])
    return None


# ---------------------------------------------------------------- history


# The histories' read models live beside the tables (models/read.py); these names are what callers import today.
HistoryEvent = HistoryEventPublic
OccurrenceHistory = OccurrenceHistoryPublic
ClauseHistory = ClauseHistoryPublic


def _event(row: LedgerEvent) -> HistoryEventPublic:
    payload = json.loads(row.payload)
    return HistoryEventPublic(
        id=row.id,
        at=row.at,
        actor=row.actor,
        kind=row.kind,
        label=event_label(row.kind),
        occurrence_id=row.occurrence_id,
        payload=payload,
        evidence=list(payload.get("evidence") or []) if isinstance(payload, dict) else [],
        hash=row.hash,
    )


def occurrence_history(
    session: Session, occurrence_id: int, as_of: dt.date | None = None, *, tz: dt.tzinfo = SHANGHAI
) -> OccurrenceHistoryPublic:
    """Every ledger event about one occurrence — its plan, status sweeps that named it, reports, waivers — in order."""
    row = session.execute(
        join_context(
            select(Occurrence, col(ClauseRecord.code), col(ClauseRecord.title), col(Agency.name), col(Department.name))
        ).where(col(Occurrence.id) == occurrence_id)
    ).first()
    if row is None:
        raise UnknownOccurrence(occurrence_id)
    occ: Occurrence = row[0]
    end = day_end_utc(as_of, tz) if as_of else None
    found: dict[int, LedgerEvent] = {}
    own = select(LedgerEvent).where(col(LedgerEvent.occurrence_id) == occurrence_id)
    for event in session.execute(own).scalars():
        found[event.id] = event
    rank = session.execute(
        select(func.count()).where(
            col(Occurrence.agreement_id) == occ.agreement_id, col(Occurrence.id) <= occurrence_id, _planned_rows()
        )
    ).scalar_one()
    if any(e.kind == OPENED for e in found.values()):
        rank = 0  # opened by hand: no plan created it
    steps = _plan_thresholds(session, occ.agreement_id).get(occ.agreement_id, [])
    index = bisect.bisect_left([total for total, _ in steps], rank)
    plans = (
        session.execute(
            select(LedgerEvent)
            .where(col(LedgerEvent.kind) == "agreement_planned", col(LedgerEvent.agreement_id) == occ.agreement_id)
            .order_by(col(LedgerEvent.id))
        )
        .scalars()
        .all()
    )
    if rank and index < len(plans):
        found[plans[index].id] = plans[index]
    events = [_event(e) for _, e in sorted(found.items()) if end is None or _aware(e.at) < end]
    events += _sweeps_naming(session, {occurrence_id}, end, like=str(occurrence_id))
    events.sort(key=lambda e: e.id)
    return OccurrenceHistoryPublic(
        occurrence_id=occurrence_id,
        agreement_id=occ.agreement_id,
        clause=row[1],
        clause_title=row[2],
        party=row[3],
        department=row[4],
        due_date=occ.due_date,
        status=str(occ.status),
        events=events,
    )


def clause_history(
    session: Session, agreement_id: str, clause_code: str, as_of: dt.date | None = None, *, tz: dt.tzinfo = SHANGHAI
) -> ClauseHistoryPublic:
    """Plan events of the agreement plus every event of every occurrence of the clause, in ledger order."""
    clause = session.execute(
        select(ClauseRecord).where(
            col(ClauseRecord.agreement_id) == agreement_id, col(ClauseRecord.code) == clause_code
        )
    ).scalar_one_or_none()
    if clause is None:
        raise CoopError(f"找不到协议 {agreement_id} 的第 {clause_code} 条 (unknown clause)")
    end = day_end_utc(as_of, tz) if as_of else None
    occurrences = session.execute(select(func.count()).where(col(Occurrence.clause_id) == clause.id)).scalar_one()
    query = (
        select(LedgerEvent)
        .outerjoin(Occurrence, col(Occurrence.id) == col(LedgerEvent.occurrence_id))
        .where(
            col(LedgerEvent.agreement_id) == agreement_id,
            (col(Occurrence.clause_id) == clause.id)
            | and_(col(LedgerEvent.occurrence_id).is_(None), col(LedgerEvent.kind) == "agreement_planned"),
        )
        .order_by(col(LedgerEvent.id))
    )
    if end is not None:
        query = query.where(col(LedgerEvent.at) < end)
    events = [_event(e) for e in session.execute(query.execution_options(yield_per=BATCH)).scalars()]
    ids = set(session.execute(select(col(Occurrence.id)).where(col(Occurrence.clause_id) == clause.id)).scalars())
    events += _sweeps_naming(session, ids, end)
    events.sort(key=lambda e: e.id)
    return ClauseHistoryPublic(
        agreement_id=agreement_id,
        clause=clause.code,
        clause_title=clause.title,
        programme=clause.programme_code,
        targets=dict(clause.targets),
        occurrences=occurrences,
        events=events,
    )


def _sweeps_naming(
    session: Session, ids: set[int], end: dt.datetime | None, like: str | None = None
) -> list[HistoryEventPublic]:
    """Sweep events that moved any of `ids`; their id lists are cut to those ids (the full list is in the ledger)."""
    if not ids:
        return []
    query = select(LedgerEvent).where(col(LedgerEvent.kind).in_(["sweep_due", "sweep_overdue"]))
    if like is not None:
        # A LIKE narrows the scan for one id; the JSON check below makes it exact.
        query = query.where(col(LedgerEvent.payload).contains(like))
    if end is not None:
        query = query.where(col(LedgerEvent.at) < end)
    out = []
    for row in session.execute(query.order_by(col(LedgerEvent.id)).execution_options(yield_per=BATCH)).scalars():
        payload = json.loads(row.payload)
        named = [i for i in payload.get("occurrence_ids", []) if i in ids]
        if named:
            event = _event(row)
            out.append(event.model_copy(update={"payload": {**payload, "occurrence_ids": named}}))
    return out


def _aware(moment: dt.datetime) -> dt.datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def agreement_documents(session: Session, agreement_ids: Iterable[str] | None = None) -> dict[str, dict[str, Any]]:
    """Agreement id → the text its current plan follows (`agreement_version.document`); None: every agreement."""
    query = select(col(AgreementRecord.id), col(AgreementVersion.document)).join(
        AgreementVersion,
        and_(
            col(AgreementVersion.agreement_id) == col(AgreementRecord.id),
            col(AgreementVersion.version) == col(AgreementRecord.version),
        ),
    )
    if agreement_ids is not None:
        query = query.where(col(AgreementRecord.id).in_(set(agreement_ids)))
    return {agreement_id: dict(document or {}) for agreement_id, document in session.execute(query)}
