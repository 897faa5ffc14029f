"""The ledger cannot be rewritten quietly: PostgreSQL refuses UPDATE and DELETE on it (migration 0005),
and any change made around that guard — or on SQLite, which has none — is caught by `coop audit verify`."""

from __future__ import annotations

import datetime as dt

import pytest
from conftest import FIXTURES
from reliability.scenario import plan, verify_ledger
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from typer.testing import CliRunner

from coop.agreement.loader import load_agreement
from coop.cli import app
from coop.ledger import EventDraft
from coop.report import CompletionReport
from coop.store import ledger
from coop.store.occurrences import record_completion
from models.db import get_engine, session_scope

PLAN_DAY = dt.date(2026, 3, 1)
# The plan and the statuses it brought up to date as of PLAN_DAY (same transaction), the completion, three notes.
HISTORY_KINDS = ["agreement_planned", "sweep_overdue", "sweep_due", "occurrence_done", "note", "note", "note"]


@pytest.fixture
def history(db_env: str) -> str:
    """A planned agreement, one completion and a few more events: a ledger worth forging."""
    plan(db_env, load_agreement(FIXTURES / "small.yaml"), PLAN_DAY)
    with session_scope(db_env) as s:
        oid = s.execute(
            text(
                "SELECT o.id FROM occurrence o JOIN department d ON d.id = o.department_id"
                " JOIN agency a ON a.id = d.agency_id"
                " WHERE a.name = '渝北区' AND d.name = '区委社会工作部' ORDER BY o.due_date, o.id LIMIT 1"
            )
        ).scalar_one()
        record_completion(
            s, CompletionReport(oid, "渝北区/区委社会工作部", participants=48, metrics={"participants": 48}), "tester"
        )
        ledger.append(s, [EventDraft("note", "tester", {"n": i}) for i in range(3)])
    assert verify_ledger(db_env).ok
    return db_env


def _tamper(url: str, sql: str) -> None:
    """Change the ledger behind the application's back, as someone with the database password would."""
    with get_engine(url).begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("SET LOCAL session_replication_role = replica")  # a superuser switching triggers off
        conn.exec_driver_sql(sql)


def _cli_verify() -> tuple[int, str]:
    result = CliRunner().invoke(app, ["audit", "verify"])
    return result.exit_code, result.output


def test_untouched_ledger_verifies_through_the_cli(history: str) -> None:
    with get_engine(history).connect() as conn:
        assert conn.execute(text("SELECT kind FROM ledger_event ORDER BY id")).scalars().all() == HISTORY_KINDS
    code, out = _cli_verify()
    assert code == 0 and "台账完整：7 条事件" in out, out


@pytest.mark.parametrize(
    ("sql", "where"),
    [
        ("UPDATE ledger_event SET payload = replace(payload, '48', '4800') WHERE kind = 'occurrence_done'", "事件 #4"),
        ("UPDATE ledger_event SET actor = 'mallory' WHERE id = 1", "事件 #1"),
        (
            "UPDATE ledger_event SET at = at WHERE id = 3; UPDATE ledger_event SET kind = 'erased' WHERE id = 3",
            "事件 #3",
        ),
        ("DELETE FROM ledger_event WHERE id = 2", "事件 #2"),
        ("DELETE FROM ledger_event WHERE id >= 6", "事件 #6"),  # the newest ones: caught by the head row
        (
            "UPDATE ledger_head SET last_hash = 'ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff'",
            "台账头记录与链尾不一致",
        ),
    ],
)
def test_sql_tampering_is_reported_by_coop_audit_verify(history: str, sql: str, where: str) -> None:
    for statement in sql.split("; "):
        _tamper(history, statement)
    code, out = _cli_verify()
    assert code == 1, out
    assert "台账被改动" in out and where in out, out


@pytest.mark.postgres
@pytest.mark.parametrize(
    "db_url", ["postgresql"], indirect=True
)  # SQLite has no roles or triggers; the chain is its guard
@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE ledger_event SET payload = '{}' WHERE id = 2",
        "UPDATE ledger_event SET actor = actor",  # even a no-op rewrite is refused
        "DELETE FROM ledger_event WHERE id = 5",
        "DELETE FROM ledger_event",
    ],
)
def test_postgresql_refuses_update_and_delete_of_ledger_rows(history: str, sql: str) -> None:
    with pytest.raises(DBAPIError, match="append-only"), get_engine(history).begin() as conn:
        conn.exec_driver_sql(sql)
    assert verify_ledger(history).ok and verify_ledger(history).events == len(HISTORY_KINDS)
    # Appending still works: the guard is on rewriting, not on writing.
    with session_scope(history) as s:
        ledger.append(s, [EventDraft("note", "tester", {"after": "guard"})])
    assert verify_ledger(history).events == len(HISTORY_KINDS) + 1 and verify_ledger(history).ok


def test_the_guard_is_installed_by_migrations_only_on_postgresql(history: str) -> None:
    with get_engine(history).connect() as conn:
        if conn.dialect.name == "postgresql":
            triggers = (
                conn.execute(
                    text("SELECT tgname FROM pg_trigger WHERE tgrelid = 'ledger_event'::regclass AND NOT tgisinternal")
                )
                .scalars()
                .all()
            )
            assert triggers == ["ledger_event_append_only"]
        else:
            assert conn.execute(text("SELECT count(*) FROM sqlite_master WHERE type = 'trigger'")).scalar_one() == 0
