"""SQLModel tables and the engine/session helper; no business logic lives here."""

from models.db import get_engine, session_scope
from models.tables import (
    Agency,
    AgreementParty,
    AgreementRecord,
    AgreementVersion,
    ClauseRecord,
    DeliveryAttempt,
    Department,
    LedgerEvent,
    LedgerHead,
    Notice,
    Occurrence,
    OccurrenceStatus,
    OutboxMessage,
    OutboxStatus,
    ProgrammeRecord,
    Report,
)

__all__ = [
    "Agency",
    "AgreementParty",
    "AgreementRecord",
    "AgreementVersion",
    "ClauseRecord",
    "DeliveryAttempt",
    "Department",
    "LedgerEvent",
    "LedgerHead",
    "Notice",
    "Occurrence",
    "OccurrenceStatus",
    "OutboxMessage",
    "OutboxStatus",
    "ProgrammeRecord",
    "Report",
    "get_engine",
    "session_scope",
]
