"""evidence ownership and clean-up: who uploaded each file, and whether a report has cited it

`evidence_upload` keeps one row per (file, uploading department) with that department's own file name, so a
department cites and downloads only what it (or a coordinator, department NULL) uploaded, and a re-upload by
another department shows its own name. `cited_at` (also on `evidence_file`) marks a file a report has cited:
uncited uploads older than COOP_EVIDENCE_TTL_HOURS are removed by `coop evidence cleanup`; a cited file never is.
Existing files are taken over as uploads of their first uploader and counted as cited (nothing old is removed).

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-29 10:05:00
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

AUDITOR_ROLE = "coop_auditor"


def upgrade() -> None:
    with op.batch_alter_table("evidence_file", schema=None) as batch_op:
        batch_op.add_column(sa.Column("cited_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
    op.create_table(
        "evidence_upload",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sha256", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("department_id", sa.Integer(), nullable=True),
        sa.Column("filename", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("uploaded_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("cited_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["department_id"], ["department.id"]),
        sa.ForeignKeyConstraint(["sha256"], ["evidence_file.sha256"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("sha256", "department_id", name="uq_evidence_upload_sha256_department"),
    )
    with op.batch_alter_table("evidence_upload", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_evidence_upload_sha256"), ["sha256"], unique=False)
        batch_op.create_index(batch_op.f("ix_evidence_upload_department_id"), ["department_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_evidence_upload_cited_at"), ["cited_at"], unique=False)
    op.execute("UPDATE evidence_file SET cited_at = created_at")
    op.execute(
        "INSERT INTO evidence_upload (sha256, department_id, filename, size, uploaded_at, cited_at) "
        "SELECT sha256, department_id, filename, size, created_at, created_at FROM evidence_file"
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"GRANT SELECT ON evidence_upload TO {AUDITOR_ROLE}")


def downgrade() -> None:
    with op.batch_alter_table("evidence_upload", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_evidence_upload_cited_at"))
        batch_op.drop_index(batch_op.f("ix_evidence_upload_department_id"))
        batch_op.drop_index(batch_op.f("ix_evidence_upload_sha256"))
    op.drop_table("evidence_upload")
    with op.batch_alter_table("evidence_file", schema=None) as batch_op:
        batch_op.drop_column("cited_at")
