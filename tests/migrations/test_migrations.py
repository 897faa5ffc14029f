"""Alembic is the only path to a schema, and it matches the models exactly."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

import models  # noqa: F401
from coop.services.schema import upgrade
from models.db import get_engine


def test_migrations_match_models(db_url: str) -> None:
    upgrade(db_url)  # idempotent at head
    with get_engine(db_url).connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    assert diffs == []
