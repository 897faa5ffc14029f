"""Read-side queries for the coordinator's summary: counts per agreement and what is due next."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Select, func, select
from sqlmodel import Session

from models.tables import (
    OPEN_STATUSES,
    Agency,
    AgreementRecord,
    ClauseRecord,
    Department,
    Occurrence,
    OccurrenceStatus,
    ProgrammeRecord,
)


@dataclass(frozen=True)
class DueItem:
    occurrence_id: int
    due_date: dt.date
    clause: str
    clause_title: str
    party: str
    department: str
    host: str | None
    status: str
    provisional: bool


@dataclass
class AgreementSummary:
    id: str
    title: str
    version: int
    term_start: dt.date
    term_end: dt.date
    programmes: int
    clauses: int
    occurrences: int
    by_status: dict[str, int] = field(default_factory=dict)
    provisional: int = 0
    next_due: list[DueItem] = field(default_factory=list)


def summarise(
    session: Session, today: dt.date, agreement_id: str | None = None, upcoming: int = 10
) -> list[AgreementSummary]:
    query = select(AgreementRecord).order_by(AgreementRecord.id)
    if agreement_id:
        query = query.where(AgreementRecord.id == agreement_id)
    out = []
    for record in session.execute(query).scalars():
        aid = record.id
        programmes = session.execute(select(func.count()).where(ProgrammeRecord.agreement_id == aid)).scalar_one()
        clauses = session.execute(
            select(func.count()).where(ClauseRecord.agreement_id == aid, ClauseRecord.active.is_(True))  # type: ignore[attr-defined]
        ).scalar_one()
        by_status = dict(
            session.execute(
                select(Occurrence.status, func.count())
                .where(Occurrence.agreement_id == aid)
                .group_by(Occurrence.status)
            ).all()
        )
        provisional = session.execute(
            select(func.count()).where(Occurrence.agreement_id == aid, Occurrence.provisional.is_(True))  # type: ignore[attr-defined]
        ).scalar_one()
        out.append(
            AgreementSummary(
                id=aid,
                title=record.title,
                version=record.version,
                term_start=record.term_start,
                term_end=record.term_end,
                programmes=programmes,
                clauses=clauses,
                occurrences=sum(by_status.values()),
                by_status={str(k): v for k, v in by_status.items()},
                provisional=provisional,
                next_due=next_due(session, today, aid, upcoming),
            )
        )
    return out


def next_due(session: Session, today: dt.date, agreement_id: str, limit: int) -> list[DueItem]:
    rows = session.execute(
        select(
            Occurrence.id,
            Occurrence.due_date,
            ClauseRecord.code,
            ClauseRecord.title,
            Agency.name,
            Department.name,
            Occurrence.host,
            Occurrence.status,
            Occurrence.provisional,
        )
        .join(ClauseRecord, ClauseRecord.id == Occurrence.clause_id)
        .join(Department, Department.id == Occurrence.department_id)
        .join(Agency, Agency.id == Department.agency_id)
        .where(
            Occurrence.agreement_id == agreement_id,
            Occurrence.due_date >= today,
            Occurrence.status.in_(OPEN_STATUSES),  # type: ignore[attr-defined]
        )
        .order_by(Occurrence.due_date, Occurrence.id)
        .limit(limit)
    ).all()
    return [DueItem(r[0], r[1], r[2], r[3], r[4], r[5], r[6], str(r[7]), r[8]) for r in rows]


@dataclass(frozen=True)
class OccurrenceDetail:
    """One occurrence with what a reader needs to recognise it: agreement, clause, owner, targets."""

    occurrence_id: int
    agreement_id: str
    agreement_title: str
    clause: str
    clause_title: str
    party: str
    department: str
    host: str | None
    due_date: dt.date
    status: str
    targets: dict[str, int]


def _detail_query() -> Select[Any]:
    return (
        select(
            Occurrence.id,
            AgreementRecord.id,
            AgreementRecord.title,
            ClauseRecord.code,
            ClauseRecord.title,
            Agency.name,
            Department.name,
            Occurrence.host,
            Occurrence.due_date,
            Occurrence.status,
            Occurrence.targets,
        )
        .join(AgreementRecord, AgreementRecord.id == Occurrence.agreement_id)
        .join(ClauseRecord, ClauseRecord.id == Occurrence.clause_id)
        .join(Department, Department.id == Occurrence.department_id)
        .join(Agency, Agency.id == Department.agency_id)
    )


def _detail(row: Any) -> OccurrenceDetail:
    return OccurrenceDetail(
        row[0], row[1], row[2], row[3], row[4], row[5], row[6], row[7], row[8], str(row[9]), dict(row[10])
    )


def occurrence_detail(session: Session, occurrence_id: int) -> OccurrenceDetail | None:
    row = session.execute(_detail_query().where(Occurrence.id == occurrence_id)).first()
    return _detail(row) if row else None


def overdue(session: Session, limit: int = 200) -> tuple[int, list[OccurrenceDetail]]:
    """Every occurrence now marked overdue (total), the longest-overdue first up to `limit`."""
    total = session.execute(select(func.count()).where(Occurrence.status == OccurrenceStatus.overdue)).scalar_one()
    rows = session.execute(
        _detail_query()
        .where(Occurrence.status == OccurrenceStatus.overdue)
        .order_by(Occurrence.due_date, Occurrence.id)
        .limit(limit)
    ).all()
    return total, [_detail(r) for r in rows]
