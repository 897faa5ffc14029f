"""The hash chain catches any change made behind the application's back."""

from __future__ import annotations

import datetime as dt

import pytest
from conftest import FIXTURES

from coop.agreement.loader import load_agreement
from coop.calendar import WorkdayCalendar
from coop.ledger import EventDraft
from coop.planning import calendar_fingerprint, expand
from coop.store import ledger
from coop.store.plans import apply_plan
from models.db import get_engine, session_scope

CAL = WorkdayCalendar()


@pytest.fixture
def chain(db_url: str) -> str:
    loaded = load_agreement(FIXTURES / "small.yaml")
    with session_scope(db_url) as s:
        apply_plan(s, loaded, expand(loaded, CAL, 1000), dt.date(2026, 3, 1), "tester", calendar_fingerprint(CAL))
        ledger.append(s, [EventDraft("note", "tester", {"n": i}) for i in range(5)])
    return db_url


def _verify(url: str) -> ledger.Verification:
    with session_scope(url) as s:
        return ledger.verify(s)


def test_untouched_chain_verifies(chain: str) -> None:
    result = _verify(chain)
    assert result.ok and result.events == 6


@pytest.mark.parametrize(
    "sql, event_id",
    [
        ("UPDATE ledger_event SET payload = '{\"n\":99}' WHERE id = 4", 4),
        ("UPDATE ledger_event SET actor = 'mallory' WHERE id = 2", 2),
        ("DELETE FROM ledger_event WHERE id = 3", 3),
        ("DELETE FROM ledger_event WHERE id = 6", 6),
    ],
)
def test_tampering_is_found_at_the_first_altered_event(chain: str, sql: str, event_id: int) -> None:
    with get_engine(chain).begin() as conn:
        if conn.dialect.name == "postgresql":
            # The append-only trigger (migration 0005) refuses this; a superuser can switch triggers off.
            conn.exec_driver_sql("SET LOCAL session_replication_role = replica")
        conn.exec_driver_sql(sql)
    result = _verify(chain)
    assert not result.ok
    assert result.first_break is not None and result.first_break.event_id == event_id


def test_appends_continue_the_chain_across_transactions(chain: str) -> None:
    with session_scope(chain) as s:
        ledger.append(s, [EventDraft("note", "tester", {"more": True})])
    assert _verify(chain).events == 7 and _verify(chain).ok
