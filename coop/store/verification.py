"""The rows `coop audit verify` holds against the ledger: occurrences and reports, streamed in id order."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlalchemy import select
from sqlmodel import Session, col

from models.tables import Occurrence, Report

BATCH = 5000


def occurrences(session: Session) -> Iterator[Any]:
    """(id, agreement_id, status, due_date, department_id, closed_at) of every occurrence, by id."""
    query = select(
        col(Occurrence.id),
        col(Occurrence.agreement_id),
        col(Occurrence.status),
        col(Occurrence.due_date),
        col(Occurrence.department_id),
        col(Occurrence.closed_at),
    ).order_by(col(Occurrence.id))
    yield from session.execute(query.execution_options(yield_per=BATCH))


def reports(session: Session) -> Iterator[Any]:
    """Every report row with the columns its ledger event also records, by id."""
    query = select(
        col(Report.id),
        col(Report.occurrence_id),
        col(Report.department_id),
        col(Report.outcome),
        col(Report.participants),
        col(Report.metrics),
        col(Report.evidence),
        col(Report.note),
        col(Report.event_id),
        col(Report.at),
    ).order_by(col(Report.id))
    yield from session.execute(query.execution_options(yield_per=BATCH))
