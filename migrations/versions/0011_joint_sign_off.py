"""joint tasks: sign-off by every co-organiser

A clause records its `sign_off` rule (`lead`, the default, or `all`), and a report records whose part of a joint
task it is (`party_id`; NULL, as in every report before this revision, is the responsible party's).

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-29 10:05:00
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel  # noqa: F401
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # In place, never by a batch rebuild (see 0008): reports and occurrences point at these tables.
    op.add_column(
        "clause",
        sa.Column("sign_off", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False, server_default="lead"),
    )
    if op.get_bind().dialect.name == "sqlite":
        # SQLite cannot add a constraint to an existing table: the foreign key goes inline with the column.
        op.add_column(
            "report",
            sa.Column("party_id", sa.Integer(), sa.ForeignKey("agency.id"), nullable=True),
            inline_references=True,
        )
    else:
        op.add_column("report", sa.Column("party_id", sa.Integer(), nullable=True))
        op.create_foreign_key("fk_report_party_id", "report", "agency", ["party_id"], ["id"])
    op.create_index("ix_report_party_id", "report", ["party_id"])


def downgrade() -> None:
    op.drop_index("ix_report_party_id", table_name="report")
    if op.get_bind().dialect.name != "sqlite":
        op.drop_constraint("fk_report_party_id", "report", type_="foreignkey")
    op.drop_column("report", "party_id")
    op.drop_column("clause", "sign_off")
