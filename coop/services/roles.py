"""Least privilege on PostgreSQL: the roles `coop db roles` prints (or applies) for a deployment.

- the **owner** role owns the tables and runs the migrations (`coop db upgrade` with its login);
- the **app** role is what `coop serve`, the workers and the CLI log in as: no superuser, not the owner (so no
  ALTER, no DROP, no DISABLE TRIGGER, no `session_replication_role`), no TRUNCATE; the ledger tables only take
  INSERT and SELECT (`ledger_head` also UPDATE, which its trigger keeps forward-only);
- the **auditor** role (`coop_auditor`, migration 0003) stays SELECT-only; the app may `SET ROLE` to it.
"""

from __future__ import annotations

import re

from sqlalchemy import make_url

from coop.errors import CoopError
from models.db import AUDITOR_ROLE, get_engine

APPEND_ONLY = ("ledger_event", "ledger_checkpoint")
_ROLE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def _check(name: str) -> str:
    if not _ROLE.match(name):
        raise CoopError(f"角色名 {name!r} 无效：只能用小写字母、数字和下划线 (invalid role name)")
    return name


def role_statements(database: str, app: str = "coop_app", owner: str = "coop_owner") -> list[str]:
    """The roles and the schema's owner, run by a superuser before the first `coop db upgrade` (which then runs with
    the owner's login). Idempotent."""
    app, owner = _check(app), _check(owner)
    if not re.match(r"^[A-Za-z0-9_.-]{1,63}$", database):
        raise CoopError(f"数据库名 {database!r} 无效 (invalid database name)")
    create = (
        "DO $$ BEGIN CREATE ROLE {role} {attrs}; EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$"
    )
    return [
        create.format(role=owner, attrs="LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS"),
        create.format(role=app, attrs="LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS NOREPLICATION"),
        f'GRANT CONNECT ON DATABASE "{database}" TO {owner}, {app}',
        create.format(role=AUDITOR_ROLE, attrs="NOLOGIN NOSUPERUSER NOINHERIT NOCREATEDB NOCREATEROLE"),
        # The owner owns the schema: migrations create tables, types, functions and triggers, and grant on them.
        f"ALTER SCHEMA public OWNER TO {owner}",
        f"GRANT {AUDITOR_ROLE} TO {owner}, {app}",  # both may `SET ROLE coop_auditor` for read-only audits
        f"GRANT USAGE ON SCHEMA public TO {app}",
    ]


def grant_statements(app: str = "coop_app") -> list[str]:
    """The app's table grants; run after every `coop db upgrade` (a table a migration adds reaches it only so)."""
    app = _check(app)
    return [
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {app}",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {app}",
        # History is appended, never rewritten: the grants say so before the triggers have to.
        f"REVOKE UPDATE, DELETE, TRUNCATE ON {', '.join(APPEND_ONLY)} FROM {app}",
        f"REVOKE DELETE, TRUNCATE ON ledger_head FROM {app}",
        f"REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON alembic_version FROM {app}",
    ]


def apply_roles(database_url: str, app: str = "coop_app", owner: str = "coop_owner") -> list[str]:
    """Run the roles, and the grants once the tables exist, with `database_url`'s login (a superuser)."""
    url = make_url(database_url)
    if url.get_backend_name() != "postgresql" or not url.database:
        raise CoopError("数据库角色只适用于 PostgreSQL (roles need PostgreSQL)")
    statements = role_statements(url.database, app, owner)
    with get_engine(database_url).begin() as conn:
        if conn.exec_driver_sql("SELECT to_regclass('public.alembic_version')").scalar() is not None:
            statements += grant_statements(app)
        for statement in statements:
            conn.exec_driver_sql(statement)
    return statements
