"""coordinator operations: named coordinator tokens with expiry and scope, suspension, extension, reassignment

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel  # noqa: F401
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        # SQLite stores the status as text; PostgreSQL's enum type needs the new value.
        op.execute("ALTER TYPE occurrencestatus ADD VALUE IF NOT EXISTS 'suspended'")
    # Columns added in place, never by a batch rebuild: on SQLite that drops the old `occurrence`, which fails the
    # foreign key check as soon as reports or notices point at occurrences. SQLite cannot add a constraint to an
    # existing table, so there the foreign key is declared inline with the column (REFERENCES, unnamed).
    op.add_column("occurrence", sa.Column("suspended_on", sa.Date(), nullable=True))
    op.add_column("occurrence", sa.Column("planned_due_date", sa.Date(), nullable=True))
    if op.get_bind().dialect.name == "sqlite":
        op.add_column(
            "occurrence",
            sa.Column("planned_department_id", sa.Integer(), sa.ForeignKey("department.id"), nullable=True),
            inline_references=True,
        )
    else:
        op.add_column("occurrence", sa.Column("planned_department_id", sa.Integer(), nullable=True))
        op.create_foreign_key(
            "fk_occurrence_planned_department_id", "occurrence", "department", ["planned_department_id"], ["id"]
        )
    with op.batch_alter_table("api_token", schema=None) as batch_op:
        batch_op.add_column(sa.Column("person", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True))
        batch_op.add_column(sa.Column("agreements", sa.JSON(), nullable=False, server_default="[]"))
        batch_op.add_column(sa.Column("expires_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("api_token", schema=None) as batch_op:
        batch_op.drop_column("expires_at")
        batch_op.drop_column("agreements")
        batch_op.drop_column("person")
    # A suspended task goes back to the open status the next sweep will correct; the enum value stays (PostgreSQL
    # cannot drop one), unused.
    op.execute("UPDATE occurrence SET status = 'planned' WHERE status = 'suspended'")
    # In place again (SQLite ≥ 3.35 drops a column and its inline REFERENCES without rebuilding the table).
    if op.get_bind().dialect.name != "sqlite":
        op.drop_constraint("fk_occurrence_planned_department_id", "occurrence", type_="foreignkey")
    op.drop_column("occurrence", "planned_department_id")
    op.drop_column("occurrence", "planned_due_date")
    op.drop_column("occurrence", "suspended_on")
