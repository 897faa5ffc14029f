"""occurrence location: where a rotating clause's round takes place (the host party's location)

A clause with `location_from_host` hands each round to the host party, which also hosts it at its own
location; the location is stored with the occurrence so notices, feeds and exports show it.

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-29 12:06:00
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("occurrence", sa.Column("location", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True))


def downgrade() -> None:
    # In place (SQLite >= 3.35 drops a column without rebuilding the table, whose rebuild the reports' foreign keys
    # to occurrence would refuse).
    op.drop_column("occurrence", "location")
