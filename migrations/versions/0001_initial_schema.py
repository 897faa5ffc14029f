"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-25 14:40:47.722722
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel  # noqa: F401
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "agency",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("full_name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("agency", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_agency_name"), ["name"], unique=True)

    op.create_table(
        "agreement",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column("title", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("signed", sa.Date(), nullable=False),
        sa.Column("term_start", sa.Date(), nullable=False),
        sa.Column("term_end", sa.Date(), nullable=False),
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("path", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("content_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("planned_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "ledger_event",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("actor", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("agreement_id", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=True),
        sa.Column("occurrence_id", sa.Integer(), nullable=True),
        sa.Column("payload", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("prev_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("hash"),
    )
    with op.batch_alter_table("ledger_event", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ledger_event_agreement_id"), ["agreement_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_ledger_event_kind"), ["kind"], unique=False)
        batch_op.create_index(batch_op.f("ix_ledger_event_occurrence_id"), ["occurrence_id"], unique=False)

    op.create_table(
        "ledger_head",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("last_id", sa.BigInteger(), nullable=False),
        sa.Column("last_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "agreement_version",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("agreement_id", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("content_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["agreement_id"],
            ["agreement.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("agreement_id", "version"),
    )
    with op.batch_alter_table("agreement_version", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_agreement_version_agreement_id"), ["agreement_id"], unique=False)

    op.create_table(
        "clause",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("agreement_id", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column("programme_code", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("code", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("title", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("text", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("lead", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("co_organisers", sa.JSON(), nullable=False),
        sa.Column("rotate", sa.JSON(), nullable=False),
        sa.Column("location", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("targets", sa.JSON(), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("recurrence", sa.JSON(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["agreement_id"],
            ["agreement.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("agreement_id", "code"),
    )
    op.create_table(
        "department",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("agency_id", sa.Integer(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("leader", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("contact", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("channels", sa.JSON(), nullable=False),
        sa.Column("escalation_channels", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["agency_id"],
            ["agency.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("agency_id", "name"),
    )
    with op.batch_alter_table("department", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_department_agency_id"), ["agency_id"], unique=False)

    op.create_table(
        "programme",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("agreement_id", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column("code", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("title", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["agreement_id"],
            ["agreement.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("agreement_id", "code"),
    )
    op.create_table(
        "occurrence",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("agreement_id", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column("clause_id", sa.Integer(), nullable=False),
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("nominal_date", sa.Date(), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=False),
        sa.Column("window_start", sa.Date(), nullable=False),
        sa.Column("host", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("department_id", sa.Integer(), nullable=False),
        sa.Column(
            "status",
            sa.Enum("planned", "due", "done", "overdue", "waived", "cancelled", name="occurrencestatus"),
            nullable=False,
        ),
        sa.Column("provisional", sa.Boolean(), nullable=False),
        sa.Column("targets", sa.JSON(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("closed_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["agreement_id"],
            ["agreement.id"],
        ),
        sa.ForeignKeyConstraint(
            ["clause_id"],
            ["clause.id"],
        ),
        sa.ForeignKeyConstraint(
            ["department_id"],
            ["department.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("agreement_id", "key"),
    )
    with op.batch_alter_table("occurrence", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_occurrence_clause_id"), ["clause_id"], unique=False)
        batch_op.create_index("ix_occurrence_department_due", ["department_id", "due_date"], unique=False)
        batch_op.create_index("ix_occurrence_status_due", ["status", "due_date"], unique=False)

    op.create_table(
        "report",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("occurrence_id", sa.Integer(), nullable=False),
        sa.Column("department_id", sa.Integer(), nullable=False),
        sa.Column("outcome", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("participants", sa.Integer(), nullable=True),
        sa.Column("metrics", sa.JSON(), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("note", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("event_id", sa.BigInteger(), nullable=False),
        sa.Column("at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["department_id"],
            ["department.id"],
        ),
        sa.ForeignKeyConstraint(
            ["occurrence_id"],
            ["occurrence.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("report", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_report_occurrence_id"), ["occurrence_id"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("report", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_report_occurrence_id"))

    op.drop_table("report")
    with op.batch_alter_table("occurrence", schema=None) as batch_op:
        batch_op.drop_index("ix_occurrence_status_due")
        batch_op.drop_index("ix_occurrence_department_due")
        batch_op.drop_index(batch_op.f("ix_occurrence_clause_id"))

    op.drop_table("occurrence")
    op.drop_table("programme")
    with op.batch_alter_table("department", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_department_agency_id"))

    op.drop_table("department")
    op.drop_table("clause")
    with op.batch_alter_table("agreement_version", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_agreement_version_agreement_id"))

    op.drop_table("agreement_version")
    op.drop_table("ledger_head")
    with op.batch_alter_table("ledger_event", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ledger_event_occurrence_id"))
        batch_op.drop_index(batch_op.f("ix_ledger_event_kind"))
        batch_op.drop_index(batch_op.f("ix_ledger_event_agreement_id"))

    op.drop_table("ledger_event")
    op.drop_table("agreement")
    with op.batch_alter_table("agency", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_agency_name"))

    op.drop_table("agency")
