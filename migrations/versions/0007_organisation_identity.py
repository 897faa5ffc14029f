"""organisation identity: parties and departments identified by stable ids

Before this revision a party was whoever had its short name (`agency.name` was unique), so two provinces'
省委社会工作部 were one row. Now `agency.key` is the identity: an organisation id (`jilin/swd`) or, for a party
declared only in one agreement, `<agreement id>:<name>`; `agreement_party` says which agency each short name
of an agreement means; `department.key` is a department's id within its party (its name until it gets one).

Existing rows keep their ids, so every occurrence, report, notice and ledger reference stays as it was:
- an agency used by one agreement becomes that agreement's own party (`<agreement>:<name>`), exactly the key
  the next plan of that file computes;
- an agency several agreements shared keeps sharing (`legacy:<name>`): the history they wrote together stays
  linked. The next plan keeps using it for those agreements; the first that names an `id:`/`ref:` for the
  party gives it that id, and the others then get parties of their own for their future tasks.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29 09:00:00
"""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Columns added in place, unique indexes rather than constraints: SQLite would rebuild the tables for a
    # constraint, and dropping the old copy of a table other rows refer to fails its foreign key check.
    bind = op.get_bind()
    for table, length in (("agency", 300), ("department", 200)):
        op.add_column(
            table,
            sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=length), nullable=False, server_default=""),
        )
    op.create_table(
        "agreement_party",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("agreement_id", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("agency_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["agency_id"], ["agency.id"]),
        sa.ForeignKeyConstraint(["agreement_id"], ["agreement.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("agreement_id", "name"),
    )
    op.create_index("ix_agreement_party_agreement_id", "agreement_party", ["agreement_id"], unique=False)
    op.create_index("ix_agreement_party_agency_id", "agreement_party", ["agency_id"], unique=False)

    _move_data(bind)

    if bind.dialect.name == "postgresql":  # SQLite cannot drop a column default in place; the app always sets key
        for table in ("agency", "department"):
            op.alter_column(table, "key", server_default=None)
    op.create_index("uq_agency_key", "agency", ["key"], unique=True)
    op.create_index("uq_department_agency_id_key", "department", ["agency_id", "key"], unique=True)
    op.drop_index("ix_agency_name", table_name="agency")
    op.create_index("ix_agency_name", "agency", ["name"], unique=False)


def _move_data(bind: Any) -> None:
    """Keys for existing agencies and departments, and which agency each agreement's short names mean."""
    agencies = dict(bind.execute(sa.text("SELECT id, name FROM agency")).all())
    by_name = {name: aid for aid, name in agencies.items()}
    used: dict[int, set[str]] = defaultdict(set)  # agency → agreements that owe or owed work through it
    links: dict[tuple[str, str], int] = {}
    for agreement_id, agency_id in bind.execute(
        sa.text(
            "SELECT DISTINCT o.agreement_id, d.agency_id FROM occurrence o"
            " JOIN department d ON d.id = o.department_id"
            " UNION SELECT DISTINCT o.agreement_id, d.agency_id FROM report r"
            " JOIN occurrence o ON o.id = r.occurrence_id JOIN department d ON d.id = r.department_id"
        )
    ):
        used[agency_id].add(agreement_id)
        links[(agreement_id, agencies[agency_id])] = agency_id
    latest = bind.execute(
        sa.text(
            "SELECT v.agreement_id, v.document FROM agreement_version v"
            " JOIN agreement a ON a.id = v.agreement_id AND a.version = v.version"
        )
    )
    for agreement_id, document in latest:
        doc = json.loads(document) if isinstance(document, str) else document
        for party in (doc or {}).get("parties") or []:
            agency_id = by_name.get(party.get("name"))
            if agency_id is not None:
                used[agency_id].add(agreement_id)
                links[(agreement_id, party["name"])] = agency_id
    for agency_id, name in agencies.items():
        users = used.get(agency_id, set())
        key = f"{next(iter(users))}:{name}" if len(users) == 1 else f"legacy:{name}"
        bind.execute(sa.text("UPDATE agency SET key = :key WHERE id = :id"), {"key": key, "id": agency_id})
    bind.execute(sa.text("UPDATE department SET key = name"))
    if links:
        bind.execute(
            sa.text("INSERT INTO agreement_party (agreement_id, name, agency_id) VALUES (:a, :n, :g)"),
            [{"a": a, "n": n, "g": g} for (a, n), g in sorted(links.items())],
        )


def downgrade() -> None:
    # Names were unique before; parties that now share a short name cannot go back without merging them.
    bind = op.get_bind()
    repeated = bind.execute(sa.text("SELECT name FROM agency GROUP BY name HAVING COUNT(*) > 1")).first()
    if repeated is not None:
        raise RuntimeError(
            f"无法降级：多个单位同名 '{repeated[0]}'（0007 之前单位名必须唯一）"
            f" (cannot downgrade: several parties are named '{repeated[0]}')"
        )
    op.drop_index("ix_agency_name", table_name="agency")
    op.create_index("ix_agency_name", "agency", ["name"], unique=True)
    op.drop_index("uq_department_agency_id_key", table_name="department")
    op.drop_index("uq_agency_key", table_name="agency")
    op.drop_index("ix_agreement_party_agency_id", table_name="agreement_party")
    op.drop_index("ix_agreement_party_agreement_id", table_name="agreement_party")
    op.drop_table("agreement_party")
    op.drop_column("department", "key")
    op.drop_column("agency", "key")
