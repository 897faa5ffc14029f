"""calendar versions per plan: the calendar data each agreement was last planned with

`agreement.calendar_version` is the calendar fingerprint (chinesecalendar and holidays versions, the overrides
file, and for festival/season schedules the lunar library and the season file) of the agreement's last plan;
the `refresh-calendar` deployment re-plans the agreements whose version differs from the data now installed.
Rows planned before this revision have none and are re-planned by the first refresh.
`agreement.metric_labels` holds the agreement's own metric names (`metric_labels:`), which notifications read
beside the occurrence. Term targets (`total_targets`) live in the agreement document (`agreement_version.document`)
and need no column.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-29 10:05:00
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "agreement", sa.Column("calendar_version", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True)
    )
    # Existing agreements name no metrics of their own until they are next planned.
    op.add_column("agreement", sa.Column("metric_labels", sa.JSON(), nullable=False, server_default=sa.text("'{}'")))


def downgrade() -> None:
    with op.batch_alter_table("agreement") as batch:
        batch.drop_column("metric_labels")
        batch.drop_column("calendar_version")
