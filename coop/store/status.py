"""Read-side queries for the coordinator's summary: counts per agreement and what is due next."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlmodel import Session, col

from coop.store.queries import join_context, occurrence_rows
from models.read import AgreementSummaryPublic, DueItemPublic, OccurrenceDetailPublic
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

DueItem = DueItemPublic  # the read model, under the name callers import


AgreementSummary = AgreementSummaryPublic  # the read model, under the name callers import


def summarise(
    session: Session, today: dt.date, agreement_id: str | None = None, upcoming: int = 10
) -> list[AgreementSummaryPublic]:
    query = select(AgreementRecord).order_by(AgreementRecord.id)
    if agreement_id:
        query = query.where(col(AgreementRecord.id) == agreement_id)
    out = []
    for record in session.execute(query).scalars():
        aid = record.id
        programmes = session.execute(select(func.count()).where(ProgrammeRecord.agreement_id == aid)).scalar_one()
        clauses = session.execute(
            select(func.count()).where(ClauseRecord.agreement_id == aid, ClauseRecord.active.is_(True))  # type: ignore[attr-defined]
        ).scalar_one()
        by_status: dict[OccurrenceStatus, int] = dict(
            session.execute(
                select(col(Occurrence.status), func.count())
                .where(col(Occurrence.agreement_id) == aid)
                .group_by(col(Occurrence.status))
            ).all()  # a list of rows: dict() of a Result itself would take its keys() for a mapping's
        )
        provisional = session.execute(
            select(func.count()).where(Occurrence.agreement_id == aid, Occurrence.provisional.is_(True))  # type: ignore[attr-defined]
        ).scalar_one()
        out.append(
            AgreementSummaryPublic(
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


def next_due(session: Session, today: dt.date, agreement_id: str, limit: int) -> list[DueItemPublic]:
    rows = session.execute(
        occurrence_rows()
        .where(
            col(Occurrence.agreement_id) == agreement_id,
            col(Occurrence.due_date) >= today,
            col(Occurrence.status).in_(OPEN_STATUSES),
        )
        .order_by(col(Occurrence.due_date), col(Occurrence.id))
        .limit(limit)
    ).all()
    return [
        DueItemPublic(
            occurrence_id=r.id,
            due_date=r.due_date,
            clause=r.clause,
            clause_title=r.clause_title,
            party=r.party,
            department=r.department,
            host=r.host,
            status=str(r.status),
            provisional=r.provisional,
            location=r.location,
        )
        for r in rows
    ]


OccurrenceDetail = OccurrenceDetailPublic  # the read model, under the name callers import


def _detail(row: Any) -> OccurrenceDetailPublic:
    return OccurrenceDetailPublic(
        occurrence_id=row.id,
        agreement_id=row.agreement_id,
        agreement_title=row.agreement_title,
        clause=row.clause,
        clause_title=row.clause_title,
        party=row.party,
        department=row.department,
        host=row.host,
        due_date=row.due_date,
        status=str(row.status),
        targets=dict(row.targets),
    )


def occurrence_detail(session: Session, occurrence_id: int) -> OccurrenceDetailPublic | None:
    row = session.execute(occurrence_rows().where(col(Occurrence.id) == occurrence_id)).first()
    return _detail(row) if row else None


def overdue(session: Session, limit: int = 200) -> tuple[int, list[OccurrenceDetailPublic]]:
    """Every occurrence now marked overdue (total), the longest-overdue first up to `limit`."""
    total = session.execute(select(func.count()).where(col(Occurrence.status) == OccurrenceStatus.overdue)).scalar_one()
    rows = session.execute(
        occurrence_rows()
        .where(col(Occurrence.status) == OccurrenceStatus.overdue)
        .order_by(col(Occurrence.due_date), col(Occurrence.id))
        .limit(limit)
    ).all()
    return total, [_detail(r) for r in rows]


@dataclass(frozen=True)
class NextOpen:
    """The open occurrence due soonest (overdue ones first), with its department's id for a signed link."""

    occurrence_id: int
    department_id: int
    party: str
    department: str
    clause_title: str


def next_open(session: Session) -> NextOpen | None:
    """The open occurrence with the earliest due date (lowest id on a tie), or None when nothing is open."""
    row = session.execute(
        join_context(
            select(
                col(Occurrence.id),
                col(Occurrence.department_id),
                col(Agency.name),
                col(Department.name),
                col(ClauseRecord.title),
            )
        )
        .where(col(Occurrence.status).in_(OPEN_STATUSES))
        .order_by(col(Occurrence.due_date), col(Occurrence.id))
        .limit(1)
    ).first()
    return NextOpen(row[0], row[1], row[2], row[3], row[4]) if row else None
