"""Calendar feeds: the feed rows (scope and version) and the tasks one feed shows, with their ledger counts."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlmodel import Session, col

from coop.store import joint
from coop.store.queries import occurrence_rows
from models.tables import (
    CLOSED_STATUSES,
    OPEN_STATUSES,
    CalendarFeed,
    LedgerEvent,
    Occurrence,
    OccurrenceStatus,
    utcnow,
)

# Open and suspended tasks are shown as they are; cancelled and waived ones (closed but not done) for a while.
SHOWN_STATUSES = frozenset({*OPEN_STATUSES, OccurrenceStatus.suspended})
WITHDRAWN_STATUSES = CLOSED_STATUSES - {OccurrenceStatus.done}


def department_scope(department_id: int) -> str:
    return f"department:{department_id}"


def agreement_scope(agreement_id: str) -> str:
    return f"agreement:{agreement_id}"


def feed(session: Session, scope: str) -> CalendarFeed | None:
    return session.execute(select(CalendarFeed).where(col(CalendarFeed.scope) == scope)).scalar_one_or_none()


def locked_feed(session: Session, scope: str) -> CalendarFeed | None:
    query = select(CalendarFeed).where(col(CalendarFeed.scope) == scope).with_for_update()
    return session.execute(query).scalar_one_or_none()


def create_feed(session: Session, scope: str) -> CalendarFeed:
    row = CalendarFeed(scope=scope, version=1)
    session.add(row)
    session.flush()
    return row


def bump(session: Session, row: CalendarFeed) -> CalendarFeed:
    """Revoke every URL signed with the current version."""
    row.version += 1
    row.revoked_at = utcnow()
    session.add(row)
    session.flush()
    return row


@dataclass(frozen=True)
class FeedRow:
    """One task a feed shows, as read: the occurrence's columns, its clause's place and key, its ledger count."""

    occurrence_id: int
    agreement_id: str
    agreement_title: str
    key: str
    clause_title: str
    location: str | None
    who: str
    host: str | None
    window_start: dt.date
    due_date: dt.date
    status: str
    updated_at: dt.datetime
    changes: int  # ledger events naming this occurrence: grows with every change


def _rows(session: Session, where: Any, withdrawn_since: dt.datetime) -> list[FeedRow]:
    shown = or_(
        col(Occurrence.status).in_(SHOWN_STATUSES),
        and_(col(Occurrence.status).in_(WITHDRAWN_STATUSES), col(Occurrence.closed_at) >= withdrawn_since),
    )
    query = occurrence_rows().add_columns(
        col(Occurrence.key).label("key"),
        col(Occurrence.updated_at).label("updated_at"),
    )
    rows = session.execute(query.where(where, shown).order_by(col(Occurrence.due_date), col(Occurrence.id))).all()
    # Counted by subquery, not by a list of ids: an agreement's feed may hold more tasks than a query has parameters.
    feed_ids = select(col(Occurrence.id)).where(where, shown)
    counted = select(col(LedgerEvent.occurrence_id), func.count()).where(col(LedgerEvent.occurrence_id).in_(feed_ids))
    counts = {int(oid): int(n) for oid, n in session.execute(counted.group_by(col(LedgerEvent.occurrence_id)))}
    return [
        FeedRow(
            r.id,
            r.agreement_id,
            r.agreement_title,
            r.key,
            r.clause_title,
            r.location,
            f"{r.party}/{r.department}",
            r.host,
            r.window_start,
            r.due_date,
            str(r.status),
            r.updated_at,
            counts.get(r.id, 0),
        )
        for r in rows
    ]


def department_rows(session: Session, department_id: int, withdrawn_since: dt.datetime) -> list[FeedRow]:
    """The department's own tasks and the joint tasks its party has a part in — never another department's."""
    shared = joint.joint_occurrence_ids(session, department_id)
    owns = col(Occurrence.department_id) == department_id
    return _rows(session, or_(owns, col(Occurrence.id).in_(shared)) if shared else owns, withdrawn_since)


def agreement_rows(session: Session, agreement_id: str, withdrawn_since: dt.datetime) -> list[FeedRow]:
    return _rows(session, col(Occurrence.agreement_id) == agreement_id, withdrawn_since)
