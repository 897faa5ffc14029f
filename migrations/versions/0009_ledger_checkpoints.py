"""ledger checkpoints: signed heads kept in the database too, and a guard on ledger_head (PostgreSQL)

`ledger_checkpoint` holds each Ed25519-signed head (event id, hash, time); the same lines go to a file outside
the database, which is what makes them worth having. On PostgreSQL:
- `ledger_head` only moves forward: its `last_id` may only grow and must name an existing `ledger_event` with
  that hash; it cannot be deleted. A stale or forged head can no longer hide deleted newest events;
- `ledger_checkpoint` rows cannot be changed or deleted.
SQLite has no roles to guard against; there the chain and the signed checkpoints are the guard.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-29 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

AUDITOR_ROLE = "coop_auditor"
HEAD_FUNCTION = "coop_ledger_head_forward_only"
HEAD_TRIGGER = "ledger_head_forward_only"
CHECKPOINT_FUNCTION = "coop_ledger_checkpoint_append_only"
CHECKPOINT_TRIGGER = "ledger_checkpoint_append_only"
GENESIS = "0" * 64


def upgrade() -> None:
    op.create_table(
        "ledger_checkpoint",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.BigInteger(), nullable=False),
        sa.Column("hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("at", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("key_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("signature", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("actor", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("delivered", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_ledger_checkpoint_event_id", "ledger_checkpoint", ["event_id"], unique=False)
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f"GRANT SELECT ON ledger_checkpoint TO {AUDITOR_ROLE}")
    op.execute(
        f"""
        CREATE OR REPLACE FUNCTION {HEAD_FUNCTION}() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'DELETE' THEN
                RAISE EXCEPTION '台账头记录不能删除 (ledger_head cannot be deleted)'
                    USING ERRCODE = 'insufficient_privilege';
            END IF;
            IF NEW.id <> 1 THEN
                RAISE EXCEPTION '台账头记录只有一行 (ledger_head has one row, id 1)'
                    USING ERRCODE = 'insufficient_privilege';
            END IF;
            IF TG_OP = 'UPDATE' AND (NEW.last_id < OLD.last_id
                    OR (NEW.last_id = OLD.last_id AND NEW.last_hash <> OLD.last_hash)) THEN
                RAISE EXCEPTION '台账头只能前进 (ledger_head only moves forward: #% → #% refused)',
                    OLD.last_id, NEW.last_id USING ERRCODE = 'insufficient_privilege';
            END IF;
            IF NOT (NEW.last_id = 0 AND NEW.last_hash = '{GENESIS}')
                    AND NOT EXISTS (SELECT 1 FROM ledger_event e
                                    WHERE e.id = NEW.last_id AND e.hash = NEW.last_hash) THEN
                RAISE EXCEPTION '台账头必须指向已有的事件及其哈希 (ledger_head must name an existing event #%)',
                    NEW.last_id USING ERRCODE = 'insufficient_privilege';
            END IF;
            RETURN NEW;
        END
        $$;
        """
    )
    op.execute(
        f"""
        CREATE TRIGGER {HEAD_TRIGGER}
        BEFORE INSERT OR UPDATE OR DELETE ON ledger_head
        FOR EACH ROW EXECUTE FUNCTION {HEAD_FUNCTION}();
        """
    )
    op.execute(
        f"""
        CREATE OR REPLACE FUNCTION {CHECKPOINT_FUNCTION}() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION '签名检查点只能追加 (ledger_checkpoint is append-only: % refused)', TG_OP
                USING ERRCODE = 'insufficient_privilege';
        END
        $$;
        """
    )
    op.execute(
        f"""
        CREATE TRIGGER {CHECKPOINT_TRIGGER}
        BEFORE UPDATE OR DELETE ON ledger_checkpoint
        FOR EACH ROW EXECUTE FUNCTION {CHECKPOINT_FUNCTION}();
        """
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP TRIGGER IF EXISTS {CHECKPOINT_TRIGGER} ON ledger_checkpoint")
        op.execute(f"DROP FUNCTION IF EXISTS {CHECKPOINT_FUNCTION}()")
        op.execute(f"DROP TRIGGER IF EXISTS {HEAD_TRIGGER} ON ledger_head")
        op.execute(f"DROP FUNCTION IF EXISTS {HEAD_FUNCTION}()")
    op.drop_index("ix_ledger_checkpoint_event_id", table_name="ledger_checkpoint")
    op.drop_table("ledger_checkpoint")
