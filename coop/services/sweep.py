"""The daily status sweep: open windows become due, passed due dates become overdue, one ledger event per batch."""

from __future__ import annotations

import datetime as dt

from coop.occurrence_status import SweepResult
from coop.store.occurrences import sweep
from models.db import session_scope


def sweep_statuses(database_url: str, today: dt.date, actor: str) -> SweepResult:
    """Move every occurrence's status on as of `today` in one transaction; returns how many changed."""
    with session_scope(database_url) as session:
        return sweep(session, today, actor)
