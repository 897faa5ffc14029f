"""amendments: effective dates, tracking_from and untracked history

An occurrence due before its agreement's `tracking_from` is stored with the status `untracked`. SQLite keeps
the status as text; PostgreSQL's enum type needs the new value. Effective dates and amendment references live
in the agreement document (agreement_version) and the ledger, so no column is added.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29 09:00:00
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TYPE occurrencestatus ADD VALUE IF NOT EXISTS 'untracked'")


def downgrade() -> None:
    # PostgreSQL cannot drop an enum value; untracked history goes back to the open status the next sweep corrects.
    op.execute("UPDATE occurrence SET status = 'planned' WHERE status = 'untracked'")
