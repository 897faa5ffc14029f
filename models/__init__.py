"""SQLModel tables and the engine/session helper; no business logic lives here."""

from models.db import get_engine, session_scope
from models.tables import (
    Agency,
    AgreementRecord,
    AgreementVersion,
    ClauseRecord,
    Department,
    LedgerEvent,
    LedgerHead,
    Occurrence,
    OccurrenceStatus,
    ProgrammeRecord,
    Report,
)

__all__ = [
    "Agency",
    "AgreementRecord",
    "AgreementVersion",
    "ClauseRecord",
    "Department",
    "LedgerEvent",
    "LedgerHead",
    "Occurrence",
    "OccurrenceStatus",
    "ProgrammeRecord",
    "Report",
    "get_engine",
    "session_scope",
]
