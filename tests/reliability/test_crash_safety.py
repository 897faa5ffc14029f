"""A planner killed with SIGKILL while it writes a large agreement leaves no half plan: the database
holds the old version or the new one, never a mix, and the ledger verifies. A rerun finishes the job."""

from __future__ import annotations

import datetime as dt
import json
import signal
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from conftest import FIXTURES
from reliability.scenario import (
    child_env,
    expect_line,
    pg_sessions,
    plan,
    snapshot,
    start_child,
    synthetic_agreement,
    verify_ledger,
    wait_until,
)
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

from coop.agreement.loader import load_agreement
from models.db import session_scope
from models.tables import AgreementRecord, LedgerEvent, Occurrence

PLAN_DAY = dt.date(2026, 1, 5)
VICTIM = "coop-planner-victim"
# The same service functions the plan-agreement flow's tasks run, in a process of its own.
PLANNER = """
import datetime as dt, sys
from coop.services import planning
from coop.settings import get_settings
settings = get_settings()
loaded = planning.load(sys.argv[1])
planned = planning.expand_checked(loaded, settings)
print("writing", flush=True)
day = dt.date.fromisoformat(sys.argv[2])
result = planning.write(settings.database_url, loaded, planned, day, "planner-under-test", settings=settings)
print("done", result.version, result.created, flush=True)
"""


def _victim_url(db_url: str) -> str:
    """Tag the planner's PostgreSQL sessions so the test can find them in pg_stat_activity."""
    return f"{db_url}?application_name={VICTIM}" if db_url.startswith("postgresql") else db_url


def _pg(db_url: str, sql: str) -> list[tuple[object, ...]]:
    return pg_sessions(db_url, sql, VICTIM)


def _writing(db_url: str) -> bool:
    """The planner's transaction is open and has written (PostgreSQL: it has a transaction id;
    SQLite: it holds the write lock, which it takes only for the plan transaction)."""
    if db_url.startswith("postgresql"):
        return bool(
            _pg(
                db_url,
                "SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND application_name = :app "
                "AND backend_xid IS NOT NULL",
            )
        )
    path = make_url(db_url).database
    conn = sqlite3.connect(str(path), timeout=0, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("ROLLBACK")
        return False
    except sqlite3.OperationalError:
        return True
    finally:
        conn.close()


def _waiting_for_ledger(db_url: str) -> bool:
    return bool(
        _pg(
            db_url,
            "SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND application_name = :app "
            "AND wait_event_type = 'Lock'",
        )
    )


def _gone(db_url: str) -> bool:
    """PostgreSQL rolls a dead client's transaction back when it notices; wait for that before looking."""
    return not db_url.startswith("postgresql") or not _pg(
        db_url, "SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND application_name = :app"
    )


@contextmanager
def _ledger_held(db_url: str) -> Iterator[None]:
    """Hold the ledger head's row lock: a planner then blocks at its very last step, the ledger append,
    with every occurrence already written — the worst moment to die."""
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn, conn.begin() as tx:
            conn.execute(text("SELECT last_id FROM ledger_head WHERE id = 1 FOR UPDATE"))
            yield
            tx.rollback()
    finally:
        engine.dispose()


def _kill_while_writing(db_url: str, path: Path, moment: str) -> None:
    child = start_child(PLANNER, child_env(_victim_url(db_url)), str(path), PLAN_DAY.isoformat())
    try:
        expect_line(child, "writing")
        if moment == "at_ledger_append":
            with _ledger_held(db_url):
                assert wait_until(lambda: _waiting_for_ledger(db_url), timeout=120), "planner never reached the ledger"
                _kill(child)
        else:
            assert wait_until(lambda: _writing(db_url), timeout=120), "planner never started writing"
            if moment == "midway":
                time.sleep(0.2)
            _kill(child)
        assert wait_until(lambda: _gone(db_url), timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
        with child:  # waits, and closes the pipes a killed child leaves open
            pass


def _kill(child: subprocess.Popen[str]) -> None:
    assert child.poll() is None, "the planner finished before it could be killed; make the agreement larger"
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL


def _run_to_completion(db_url: str, path: Path) -> str:
    child = start_child(PLANNER, child_env(db_url), str(path), PLAN_DAY.isoformat())
    out, err = child.communicate(timeout=600)
    assert child.returncode == 0, err
    return out.strip().splitlines()[-1]


def _plan_events(db_url: str, agreement_id: str) -> list[int]:
    with session_scope(db_url) as s:
        payloads = s.execute(
            select(LedgerEvent.payload).where(
                LedgerEvent.kind == "agreement_planned", LedgerEvent.agreement_id == agreement_id
            )
        ).scalars()
        return [json.loads(p)["version"] for p in payloads]


def _occurrences(db_url: str, agreement_id: str, status: str | None = None) -> int:
    with session_scope(db_url) as s:
        query = select(func.count()).select_from(Occurrence).where(Occurrence.agreement_id == agreement_id)
        if status:
            query = query.where(Occurrence.status == status)
        return s.execute(query).scalar_one()


@pytest.mark.slow
def test_planner_killed_mid_write_leaves_the_old_state_and_a_rerun_completes(db_url: str, tmp_path: Path) -> None:
    plan(db_url, load_agreement(FIXTURES / "small.yaml"), PLAN_DAY)  # another agreement is already there
    before = snapshot(db_url)
    v1 = tmp_path / "big.yaml"
    v1.write_text(synthetic_agreement(clauses=40), encoding="utf-8")
    expected_v1 = 40 * 5 * 261  # weekly Fridays, five years, five parties

    moments: list[str] = ["early", "midway"] + (["at_ledger_append"] if db_url.startswith("postgresql") else [])
    for moment in moments:
        _kill_while_writing(db_url, v1, moment)
        assert snapshot(db_url) == before, f"killed {moment}: something of the half plan stayed"
        assert verify_ledger(db_url).ok

    assert _run_to_completion(db_url, v1) == f"done 1 {expected_v1}"
    after_v1 = snapshot(db_url)
    assert _occurrences(db_url, "reliability-big") == expected_v1
    assert _plan_events(db_url, "reliability-big") == [1]
    assert verify_ledger(db_url).ok

    # Version 2 moves one clause to Wednesdays and adds five clauses: creates, cancels and keeps at once.
    v2 = tmp_path / "big-v2.yaml"
    first_clause = (
        "title: 第1项联合巡护\n        kind: patrol\n        responsible: {each_party: true}\n        recurrence: "
    )
    text_v2 = synthetic_agreement(clauses=45).replace(
        first_clause + "{every: week, day: 5,", first_clause + "{every: week, day: 3,"
    )
    assert text_v2 != synthetic_agreement(clauses=45)
    v2.write_text(text_v2, encoding="utf-8")
    _kill_while_writing(db_url, v2, "at_ledger_append" if db_url.startswith("postgresql") else "midway")
    assert snapshot(db_url) == after_v1, "killed during re-plan: the old version must be intact"
    with session_scope(db_url) as s:
        record = s.get(AgreementRecord, "reliability-big")
        assert record is not None and record.version == 1
    assert verify_ledger(db_url).ok

    summary = _run_to_completion(db_url, v2)
    assert summary.startswith("done 2 ")
    assert _plan_events(db_url, "reliability-big") == [1, 2]
    assert _occurrences(db_url, "reliability-big", "cancelled") > 0
    assert _occurrences(db_url, "reliability-big") == expected_v1 + int(summary.split()[2])
    assert verify_ledger(db_url).ok
