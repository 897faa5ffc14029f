"""What a coordinator reads: per-agreement summaries, the overdue list, one occurrence's details."""

from __future__ import annotations

import datetime as dt

from coop.store.status import AgreementSummary, OccurrenceDetail, occurrence_detail, overdue, summarise
from models.db import session_scope

UPCOMING = 10  # occurrences listed as "due next" per agreement
OVERDUE_LIMIT = 200  # overdue occurrences listed; the total is always counted


def agreement_summaries(
    database_url: str, today: dt.date, agreement_id: str | None = None, upcoming: int = UPCOMING
) -> list[AgreementSummary]:
    """Each agreement (or just `agreement_id`) with its counts by status and the next `upcoming` open items."""
    with session_scope(database_url) as session:
        return summarise(session, today, agreement_id, upcoming)


def overdue_occurrences(database_url: str, limit: int = OVERDUE_LIMIT) -> tuple[int, list[OccurrenceDetail]]:
    """(how many occurrences are overdue, the longest-overdue first up to `limit`)."""
    with session_scope(database_url) as session:
        return overdue(session, limit)


def describe_occurrence(database_url: str, occurrence_id: int) -> OccurrenceDetail | None:
    """One occurrence with its agreement, clause, owner and targets; None when there is no such id."""
    with session_scope(database_url) as session:
        return occurrence_detail(session, occurrence_id)
