"""Signed ledger checkpoints kept in the database (the file outside it is written by the service)."""

from __future__ import annotations

from sqlalchemy import select
from sqlmodel import Session

from coop.checkpoint import Checkpoint
from models.tables import LedgerCheckpoint


def add(session: Session, checkpoint: Checkpoint, actor: str, delivered: str | None) -> int:
    """Store one signed checkpoint; returns its row id."""
    row = LedgerCheckpoint(
        event_id=checkpoint.event_id,
        hash=checkpoint.hash,
        at=checkpoint.at,
        key_id=checkpoint.key_id,
        signature=checkpoint.signature,
        actor=actor,
        delivered=delivered,
    )
    session.add(row)
    session.flush()
    assert row.id is not None
    return row.id


def stored(session: Session) -> list[Checkpoint]:
    """Every stored checkpoint, oldest first."""
    rows = session.execute(select(LedgerCheckpoint).order_by(LedgerCheckpoint.id)).scalars()  # type: ignore[arg-type]
    return [Checkpoint(r.event_id, r.hash, r.at, r.key_id, r.signature) for r in rows]
