"""Read-only audit queries: occurrence states now or on a past date, and the full history of one item.

Everything streams (`yield_per`) so a million occurrences never sit in memory. A past state is rebuilt
from the ledger: when an occurrence was created (the plan event that inserted it), which status event
came last before that day, and which due date it had before later re-plans moved it.
"""

from __future__ import annotations

import bisect
import datetime as dt
import json
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Literal
from zoneinfo import ZoneInfo

from sqlalchemy import Select, and_, func, select
from sqlmodel import Session

from coop.errors import CoopError, UnknownOccurrence
from coop.settings import Settings, get_settings
from models.db import readonly_session_scope
from models.tables import (
    Agency,
    AgreementRecord,
    ClauseRecord,
    Department,
    LedgerEvent,
    Occurrence,
    Report,
)

BATCH = 2000
STATUS_EVENTS = {"occurrence_done": "done", "occurrence_waived": "waived", "occurrence_cancelled": "cancelled"}
CLOSED = ("done", "waived", "cancelled")
Status = Literal["planned", "due", "overdue", "done", "waived", "cancelled"]


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

    @property
    def on_time(self) -> bool | None:
        if self.status != "done" or self.completed_on is None:
            return None
        return self.completed_on <= self.due_date


def day_end_utc(day: dt.date) -> dt.datetime:
    """The first instant after `day` ends in the configured time zone (Asia/Shanghai), in UTC."""
    tz = ZoneInfo(get_settings().timezone)
    return dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tz).astimezone(dt.UTC)


def local_date(moment: dt.datetime) -> dt.date:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(ZoneInfo(get_settings().timezone)).date()


def _apply_filter(query: Select[Any], flt: AuditFilter) -> Select[Any]:
    """Joins clause/department/agency and narrows `query` (which selects from Occurrence) to the filter."""
    query = (
        query.join(ClauseRecord, ClauseRecord.id == Occurrence.clause_id)
        .join(Department, Department.id == Occurrence.department_id)
        .join(Agency, Agency.id == Department.agency_id)
    )
    if flt.agreement:
        query = query.where(Occurrence.agreement_id == flt.agreement)
    if flt.programme:
        query = query.where(ClauseRecord.programme_code == flt.programme)
    if flt.clause:
        query = query.where(ClauseRecord.code == flt.clause)
    if flt.party:
        query = query.where(Agency.name == flt.party)
    if flt.department:
        if flt.department.isdigit():
            query = query.where(Department.id == (int(flt.department) if int(flt.department) < 2**31 else -1))
        else:
            party, _, name = flt.department.partition("/")
            query = query.where(Agency.name == party, Department.name == name)
    if flt.due_from:
        query = query.where(Occurrence.due_date >= flt.due_from)
    if flt.due_to:
        query = query.where(Occurrence.due_date <= flt.due_to)
    return query


def occurrence_states(
    session: Session, flt: AuditFilter, as_of: dt.date, *, from_ledger: bool = True
) -> Iterator[OccurrenceState]:
    """Every matching occurrence's state at the end of `as_of`, in id order, streamed.

    With `from_ledger=False` the stored status is used (right only for today; cheaper); with True the state
    is rebuilt from the ledger, which is the only honest answer for a past day.
    """
    end = day_end_utc(as_of)
    base = _apply_filter(
        select(
            Occurrence.id,
            Occurrence.agreement_id,
            AgreementRecord.title,
            ClauseRecord.programme_code,
            ClauseRecord.code,
            ClauseRecord.title,
            Agency.name,
            Department.name,
            Occurrence.host,
            Occurrence.window_start,
            Occurrence.due_date,
            Occurrence.status,
            Occurrence.provisional,
            Occurrence.closed_at,
            Occurrence.targets,
        ).select_from(Occurrence),
        flt,
    ).join(AgreementRecord, AgreementRecord.id == Occurrence.agreement_id)
    created_in: dict[str, list[tuple[int, dt.datetime]]] = {}
    if from_ledger:
        # An occurrence's rank within its agreement says which plan created it; rank only the agreements the
        # filter touches, not the whole table (a department × quarter cell then costs milliseconds, not seconds).
        # (Named in a first small query, so PostgreSQL plans the ranking from the (agreement_id, key) index.)
        touched = (
            session.execute(_apply_filter(select(Occurrence.agreement_id).select_from(Occurrence), flt).distinct())
            .scalars()
            .all()
        )
        ranked = (
            select(
                Occurrence.id.label("oid"),
                func.row_number().over(partition_by=Occurrence.agreement_id, order_by=Occurrence.id).label("rank"),
            ).where(Occurrence.agreement_id.in_(sorted(touched)))  # type: ignore[union-attr]  # type: ignore[attr-defined]
        ).subquery()
        base = base.add_columns(ranked.c.rank).join(ranked, ranked.c.oid == Occurrence.id)
        created_in = _plan_thresholds(session, flt.agreement)
    rows = session.execute(base.order_by(Occurrence.id).execution_options(yield_per=BATCH))

    report_query = _apply_filter(
        select(Report.occurrence_id, Report.participants, Report.metrics, Report.evidence)
        .select_from(Report)
        .join(Occurrence, Occurrence.id == Report.occurrence_id),
        flt,
    ).where(Report.at < end)
    reports = _Cursor(
        session.execute(report_query.order_by(Report.occurrence_id, Report.id).execution_options(yield_per=BATCH))
    )
    events: _Cursor | None = None
    if from_ledger:
        event_query = _apply_filter(
            select(LedgerEvent.occurrence_id, LedgerEvent.at, LedgerEvent.kind, LedgerEvent.payload)
            .select_from(LedgerEvent)
            .join(Occurrence, Occurrence.id == LedgerEvent.occurrence_id),
            flt,
        ).where(LedgerEvent.kind.in_([*STATUS_EVENTS, "occurrence_replanned"]))  # type: ignore[attr-defined]
        events = _Cursor(
            session.execute(
                event_query.order_by(LedgerEvent.occurrence_id, LedgerEvent.id).execution_options(yield_per=BATCH)
            )
        )

    for row in rows:
        oid = row[0]
        own_reports = reports.take(oid)
        own_events = events.take(oid) if events is not None else []
        if from_ledger:
            created_at = _created_at(created_in.get(row[1], []), row[15])
            if created_at is None or _aware(created_at) >= end:
                continue
            status, completed_on, due_date = _state_from_events(own_events, end, row[10])
        else:
            status = str(row[11]) if str(row[11]) in CLOSED else None
            completed_on = local_date(row[13]) if status == "done" and row[13] is not None else None
            due_date = row[10]
        window_start = row[9] - (row[10] - due_date)
        if status is None:
            status = "overdue" if due_date < as_of else "due" if window_start <= as_of else "planned"
        state = OccurrenceState(
            id=oid,
            agreement_id=row[1],
            agreement_title=row[2],
            programme=row[3],
            clause=row[4],
            clause_title=row[5],
            party=row[6],
            department=row[7],
            host=row[8],
            window_start=window_start,
            due_date=due_date,
            status=status,  # type: ignore[arg-type]
            provisional=bool(row[12]),
            completed_on=completed_on,
            targets=dict(row[14] or {}),
        )
        for _, participants, metrics, evidence in own_reports:
            state.reports += 1
            state.participants += participants or 0
            state.evidence += len(evidence or [])
            for name, value in (metrics or {}).items():
                state.metrics[name] = state.metrics.get(name, 0) + int(value)
        yield state


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
    query = select(LedgerEvent.agreement_id, LedgerEvent.at, LedgerEvent.payload).where(
        LedgerEvent.kind == "agreement_planned"
    )
    if agreement:
        query = query.where(LedgerEvent.agreement_id == agreement)
    out: dict[str, list[tuple[int, dt.datetime]]] = {}
    for agreement_id, at, payload in session.execute(query.order_by(LedgerEvent.id)):
        steps = out.setdefault(agreement_id, [])
        total = (steps[-1][0] if steps else 0) + int(json.loads(payload).get("created", 0))
        steps.append((total, at))
    return out


def _created_at(steps: list[tuple[int, dt.datetime]], rank: int) -> dt.datetime | None:
    index = bisect.bisect_left(steps, rank, key=lambda step: step[0])
    return steps[index][1] if index < len(steps) else None


def _state_from_events(
    events: list[Any], end: dt.datetime, current_due: dt.date
) -> tuple[str | None, dt.date | None, dt.date]:
    """(closed status or None, completion day, due date) as of `end`, from this occurrence's events in id order."""
    status: str | None = None
    completed_on: dt.date | None = None
    due = current_due
    first_later_replan: dict[str, Any] | None = None
    for _, at, kind, payload in events:
        at = at if at.tzinfo else at.replace(tzinfo=dt.UTC)
        if at < end:
            if kind in STATUS_EVENTS:
                status = STATUS_EVENTS[kind]
                completed_on = local_date(at) if status == "done" else None
        elif kind == "occurrence_replanned" and first_later_replan is None:
            first_later_replan = json.loads(payload)
    if first_later_replan is not None:
        due = dt.date.fromisoformat(first_later_replan["before"]["due_date"])
    return status, completed_on, due


def auditor_session(settings: Settings | None = None, url: str | None = None) -> AbstractContextManager[Session]:
    """A read-only transaction for audit queries.

    `url` (e.g. a flow's database_url) is opened read-only as the auditor role; otherwise the settings'
    dedicated COOP_AUDITOR_DATABASE_URL login if configured, else COOP_DATABASE_URL read-only.
    """
    if url:
        return readonly_session_scope(url)
    settings = settings or get_settings()
    if settings.auditor_database_url:
        return readonly_session_scope(settings.auditor_database_url, switch_role=False)
    return readonly_session_scope(settings.database_url)


# ---------------------------------------------------------------- history


EVENT_LABELS = {
    "agreement_planned": "协议计划生成",
    "occurrence_replanned": "任务时间或承办方调整",
    "occurrence_cancelled": "任务取消",
    "occurrence_done": "报告已完成",
    "occurrence_progress": "报告进展（部分完成）",
    "occurrence_cannot_do": "报告无法完成",
    "occurrence_waived": "任务豁免",
    "sweep_due": "进入办理期",
    "sweep_overdue": "逾期",
}


@dataclass(frozen=True)
class HistoryEvent:
    id: int
    at: dt.datetime
    actor: str
    kind: str
    label: str
    occurrence_id: int | None
    payload: dict[str, Any]
    evidence: list[str]
    hash: str


@dataclass(frozen=True)
class OccurrenceHistory:
    occurrence_id: int
    agreement_id: str
    clause: str
    clause_title: str
    party: str
    department: str
    due_date: dt.date
    status: str
    events: list[HistoryEvent]


@dataclass(frozen=True)
class ClauseHistory:
    agreement_id: str
    clause: str
    clause_title: str
    programme: str
    targets: dict[str, int]
    occurrences: int
    events: list[HistoryEvent]


def _event(row: LedgerEvent) -> HistoryEvent:
    payload = json.loads(row.payload)
    return HistoryEvent(
        id=row.id,
        at=row.at,
        actor=row.actor,
        kind=row.kind,
        label=EVENT_LABELS.get(row.kind, row.kind),
        occurrence_id=row.occurrence_id,
        payload=payload,
        evidence=list(payload.get("evidence") or []) if isinstance(payload, dict) else [],
        hash=row.hash,
    )


def occurrence_history(session: Session, occurrence_id: int, as_of: dt.date | None = None) -> OccurrenceHistory:
    """Every ledger event about one occurrence — its plan, status sweeps that named it, reports, waivers — in order."""
    row = session.execute(
        select(Occurrence, ClauseRecord.code, ClauseRecord.title, Agency.name, Department.name)
        .join(ClauseRecord, ClauseRecord.id == Occurrence.clause_id)
        .join(Department, Department.id == Occurrence.department_id)
        .join(Agency, Agency.id == Department.agency_id)
        .where(Occurrence.id == occurrence_id)
    ).first()
    if row is None:
        raise UnknownOccurrence(occurrence_id)
    occ: Occurrence = row[0]
    end = day_end_utc(as_of) if as_of else None
    found: dict[int, LedgerEvent] = {}
    own = select(LedgerEvent).where(LedgerEvent.occurrence_id == occurrence_id)
    for event in session.execute(own).scalars():
        found[event.id] = event
    rank = session.execute(
        select(func.count()).where(Occurrence.agreement_id == occ.agreement_id, Occurrence.id <= occurrence_id)
    ).scalar_one()
    steps = _plan_thresholds(session, occ.agreement_id).get(occ.agreement_id, [])
    index = bisect.bisect_left([total for total, _ in steps], rank)
    plans = (
        session.execute(
            select(LedgerEvent)
            .where(LedgerEvent.kind == "agreement_planned", LedgerEvent.agreement_id == occ.agreement_id)
            .order_by(LedgerEvent.id)
        )
        .scalars()
        .all()
    )
    if index < len(plans):
        found[plans[index].id] = plans[index]
    events = [_event(e) for _, e in sorted(found.items()) if end is None or _aware(e.at) < end]
    events += _sweeps_naming(session, {occurrence_id}, end, like=str(occurrence_id))
    events.sort(key=lambda e: e.id)
    return OccurrenceHistory(
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
    session: Session, agreement_id: str, clause_code: str, as_of: dt.date | None = None
) -> ClauseHistory:
    """Plan events of the agreement plus every event of every occurrence of the clause, in ledger order."""
    clause = session.execute(
        select(ClauseRecord).where(ClauseRecord.agreement_id == agreement_id, ClauseRecord.code == clause_code)
    ).scalar_one_or_none()
    if clause is None:
        raise CoopError(f"找不到协议 {agreement_id} 的第 {clause_code} 条 (unknown clause)")
    end = day_end_utc(as_of) if as_of else None
    occurrences = session.execute(select(func.count()).where(Occurrence.clause_id == clause.id)).scalar_one()
    query = (
        select(LedgerEvent)
        .outerjoin(Occurrence, Occurrence.id == LedgerEvent.occurrence_id)
        .where(
            LedgerEvent.agreement_id == agreement_id,
            (Occurrence.clause_id == clause.id)
            | and_(LedgerEvent.occurrence_id.is_(None), LedgerEvent.kind == "agreement_planned"),  # type: ignore[union-attr]
        )
        .order_by(LedgerEvent.id)
    )
    if end is not None:
        query = query.where(LedgerEvent.at < end)
    events = [_event(e) for e in session.execute(query.execution_options(yield_per=BATCH)).scalars()]
    ids = set(session.execute(select(Occurrence.id).where(Occurrence.clause_id == clause.id)).scalars())
    events += _sweeps_naming(session, ids, end)
    events.sort(key=lambda e: e.id)
    return ClauseHistory(
        agreement_id, clause.code, clause.title, clause.programme_code, dict(clause.targets), occurrences, events
    )


def _sweeps_naming(
    session: Session, ids: set[int], end: dt.datetime | None, like: str | None = None
) -> list[HistoryEvent]:
    """Sweep events that moved any of `ids`; their id lists are cut to those ids (the full list is in the ledger)."""
    if not ids:
        return []
    query = select(LedgerEvent).where(LedgerEvent.kind.in_(["sweep_due", "sweep_overdue"]))  # type: ignore[attr-defined]
    if like is not None:
        # A LIKE narrows the scan for one id; the JSON check below makes it exact.
        query = query.where(LedgerEvent.payload.contains(like))  # type: ignore[attr-defined]
    if end is not None:
        query = query.where(LedgerEvent.at < end)
    out = []
    for row in session.execute(query.order_by(LedgerEvent.id).execution_options(yield_per=BATCH)).scalars():
        payload = json.loads(row.payload)
        named = [i for i in payload.get("occurrence_ids", []) if i in ids]
        if named:
            event = _event(row)
            out.append(HistoryEvent(**{**event.__dict__, "payload": {**payload, "occurrence_ids": named}}))
    return out


def _aware(moment: dt.datetime) -> dt.datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
