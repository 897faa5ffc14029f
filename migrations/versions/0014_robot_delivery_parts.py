"""robot delivery progress: how many parts of an outbox message a robot has already accepted

A digest too long for one robot message is sent as several parts, paced within the robot's rate. `parts_sent`
is written after each accepted part, so a retry (by this or another dispatcher) resumes at the first unsent part
instead of flooding the group with the parts it already has.

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-29 12:05:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("outbox", sa.Column("parts_sent", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    # In place (SQLite >= 3.35 drops a column without rebuilding the table, whose rebuild the delivery attempts'
    # foreign keys to outbox would refuse).
    op.drop_column("outbox", "parts_sent")
