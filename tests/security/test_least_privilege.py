"""Issue 13, finding 1(c): on PostgreSQL the application no longer logs in as a superuser.

A fresh database set up as docs/scale-out.md says: `coop db roles --apply` (superuser), `coop db upgrade` as the
owner role, `coop db roles --apply` again; then the app runs as `coop_app`, and the tampering of the issue
(`SET session_replication_role = replica`, delete an event, rewrite `ledger_head`) is refused.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator

import pytest
from conftest import FIXTURES, PG_ADMIN_URL
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.exc import DBAPIError

from coop.report import CompletionReport
from coop.services import verification
from coop.services.planning import plan_agreement
from coop.services.reports import record_report
from coop.services.roles import apply_roles
from coop.services.schema import upgrade
from coop.settings import Settings
from models.db import dispose_engines, get_engine, session_scope

pytestmark = pytest.mark.postgres
# Refused for want of privilege (or by a guard trigger), not for any other error.
REFUSAL = r"permission denied|must be owner|台账头|append-only"


@pytest.fixture
def app_url() -> Iterator[str]:
    """A new database, migrated by the owner role; yields the app role's URL."""
    name = f"coop_roles_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    base = make_url(PG_ADMIN_URL).set(database=name)
    superuser = base.render_as_string(hide_password=False)
    try:
        apply_roles(superuser)
        upgrade(base.set(username="coop_owner", password=None).render_as_string(hide_password=False))
        apply_roles(superuser)
        yield base.set(username="coop_app", password=None).render_as_string(hide_password=False)
    finally:
        dispose_engines()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _settings(url: str) -> Settings:
    return Settings(database_url=url, secret_key="test-secret-key-for-links-0123456789")  # type: ignore[arg-type]


def test_the_app_works_as_its_own_role_and_cannot_rewrite_history(app_url: str) -> None:
    plan_agreement(app_url, FIXTURES / "small.yaml", dt.date(2026, 3, 1), "测试", settings=_settings(app_url))
    with session_scope(app_url) as s:
        assert s.execute(text("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")).scalar() is False
        oid = s.execute(text("SELECT id FROM occurrence WHERE key = '1.1@2026-03-31'")).scalar_one()
    record_report(app_url, CompletionReport(oid, "渝北区/区委社会工作部", "done", participants=45), "测试")
    assert verification.verify_ledger(_settings(app_url)).ok  # the auditor login (SET ROLE coop_auditor) works too

    refused = [
        "SET session_replication_role = replica",
        "DELETE FROM ledger_event WHERE id = 2",
        "UPDATE ledger_event SET actor = 'mallory' WHERE id = 1",
        "TRUNCATE ledger_event",
        "ALTER TABLE ledger_event DISABLE TRIGGER ALL",
        "DROP TRIGGER ledger_event_append_only ON ledger_event",
        "UPDATE ledger_head SET last_id = last_id - 1",
        "DELETE FROM ledger_head",
        "TRUNCATE occurrence CASCADE",
        "ALTER TABLE occurrence ADD COLUMN forged text",
        "DELETE FROM ledger_checkpoint",
    ]
    for sql in refused:
        with pytest.raises(DBAPIError, match=REFUSAL), get_engine(app_url).begin() as conn:
            conn.exec_driver_sql(sql)
    result = verification.verify_ledger(_settings(app_url))
    assert result.ok and result.events == result.head_id
