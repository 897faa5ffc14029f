"""Bulk insert that skips rows whose unique key already exists, on SQLite and PostgreSQL alike."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, SQLModel

CHUNK = 2000


def insert_new(session: Session, model: type[SQLModel], rows: Sequence[dict[str, Any]], key: str) -> int:
    """Returns how many rows were new; concurrent writers of the same key never fail, one simply wins."""
    if not rows:
        return 0
    table = model.__table__  # type: ignore[attr-defined]
    dialect = session.get_bind().dialect.name
    build = postgresql.insert if dialect == "postgresql" else sqlite.insert
    # One compiled statement, executed many times (SQLAlchemy batches it with RETURNING).
    stmt = build(table).on_conflict_do_nothing(index_elements=[key]).returning(table.c[key])
    unique = list({r[key]: r for r in rows}.values())
    inserted = 0
    for start in range(0, len(unique), CHUNK):
        inserted += len(session.execute(stmt, unique[start : start + CHUNK]).all())
    return inserted
