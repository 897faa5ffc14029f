"""Data access for coordinator operations and named coordinator tokens; the caller owns the transaction."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from sqlalchemy import ColumnElement, func, select
from sqlmodel import Session, col

from coop.store.queries import department_names
from models.tables import (
    OPEN_STATUSES,
    ApiToken,
    Department,
    Notice,
    Occurrence,
    OccurrenceStatus,
    Report,
)

COORDINATOR = "coordinator"
# Statuses a coordinator may still change the terms of (extend, reassign, waive, cancel).
ACTIVE_STATUSES = (*OPEN_STATUSES, OccurrenceStatus.suspended)


def locked_occurrence(session: Session, occurrence_id: int) -> Occurrence | None:
    """The occurrence row-locked for a change; an id no row can have is simply unknown."""
    if isinstance(occurrence_id, bool) or not isinstance(occurrence_id, int) or not 0 < occurrence_id < 2**31:
        return None
    return session.get(Occurrence, occurrence_id, with_for_update=True)


def department_label(session: Session, department_id: int) -> str:
    row = session.execute(department_names().where(col(Department.id) == department_id)).first()
    return f"{row.party}/{row.department}" if row else f"#{department_id}"


def agreement_agencies(session: Session, agreement_id: str) -> set[int]:
    """The parties (agency ids) that owe anything under an agreement: the departments a task may move between."""
    return set(
        session.execute(
            select(col(Department.agency_id))
            .join(Occurrence, col(Occurrence.department_id) == col(Department.id))
            .where(col(Occurrence.agreement_id) == agreement_id)
            .distinct()
        ).scalars()
    )


def add_operation_notice(
    session: Session, occurrence: Occurrence, department_id: int, kind: str, event_id: int
) -> None:
    """Tell a department about a coordinator's decision through its next digest; one notice per ledger event."""
    assert occurrence.id is not None
    session.add(
        Notice(
            dedup_key=f"{occurrence.id}:{kind}:{occurrence.due_date.isoformat()}:op{event_id}",
            occurrence_id=occurrence.id,
            department_id=department_id,
            recipient_role="department",
            kind=kind,
        )
    )


def has_reports(session: Session, occurrence_id: int) -> bool:
    count: int = session.execute(select(func.count()).where(col(Report.occurrence_id) == occurrence_id)).scalar_one()
    return count > 0


# ---------------------------------------------------------------- named coordinator tokens


def add_token(
    session: Session,
    token_hash: str,
    role: str,
    label: str,
    *,
    person: str | None = None,
    department_id: int | None = None,
    agreements: Iterable[str] = (),
    expires_at: dt.datetime | None = None,
) -> ApiToken:
    row = ApiToken(
        token_hash=token_hash,
        role=role,
        label=label,
        person=person,
        department_id=department_id,
        agreements=sorted(set(agreements)),
        expires_at=expires_at,
    )
    session.add(row)
    session.flush()
    return row


def token(session: Session, token_id: int, lock: bool = False) -> ApiToken | None:
    if not 0 < token_id < 2**31:
        return None
    return session.get(ApiToken, token_id, with_for_update=lock)


def _live(now: dt.datetime) -> tuple[ColumnElement[bool], ...]:
    return (
        col(ApiToken.revoked_at).is_(None),
        col(ApiToken.expires_at).is_(None) | (col(ApiToken.expires_at) > now),
    )


def live_coordinator_tokens(session: Session, now: dt.datetime, person: str | None = None) -> list[ApiToken]:
    """Coordinator tokens neither revoked nor expired at `now`, optionally only one person's."""
    query = select(ApiToken).where(col(ApiToken.role) == COORDINATOR, *_live(now))
    if person is not None:
        query = query.where(col(ApiToken.person) == person)
    return list(session.execute(query.order_by(col(ApiToken.id))).scalars())


def tokens(session: Session) -> list[ApiToken]:
    return list(session.execute(select(ApiToken).order_by(col(ApiToken.id))).scalars())
