"""ledger guard: on PostgreSQL the ledger table refuses UPDATE and DELETE

The hash chain already *detects* any change (`coop audit verify`); this trigger *prevents* it for
every role that has not been given the power to disable triggers, so a buggy or compromised
application login cannot rewrite history. SQLite has no roles to protect against; there the chain
alone is the guard.

Revision ID: 0005
Revises: 0003
Create Date: 2026-11-25 16:00:00
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0003"
branch_labels = None
depends_on = None

FUNCTION = "coop_ledger_append_only"
TRIGGER = "ledger_event_append_only"


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        f"""
        CREATE OR REPLACE FUNCTION {FUNCTION}() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION '台账只能追加，不能修改或删除 (ledger_event is append-only: % refused for event #%)', TG_OP, OLD.id
                USING ERRCODE = 'insufficient_privilege';
        END
        $$;
        """
    )
    op.execute(
        f"""
        CREATE TRIGGER {TRIGGER}
        BEFORE UPDATE OR DELETE ON ledger_event
        FOR EACH ROW EXECUTE FUNCTION {FUNCTION}();
        """
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f"DROP TRIGGER IF EXISTS {TRIGGER} ON ledger_event")
    op.execute(f"DROP FUNCTION IF EXISTS {FUNCTION}()")
