"""The hash chain catches any change made behind the application's back."""

from __future__ import annotations

import datetime as dt

import pytest
from conftest import FIXTURES
from sqlmodel import col, select

from coop.agreement.loader import load_agreement
from coop.calendar import WorkdayCalendar
from coop.ledger import GENESIS, ChainBreak, EventDraft
from coop.planning import calendar_fingerprint, expand
from coop.store import ledger
from coop.store.plans import apply_plan
from models.db import get_engine, session_scope
from models.tables import LedgerEvent, Occurrence

CAL = WorkdayCalendar()
# The plan, then the statuses it brought up to date as of its today (same transaction), then five notes.
CHAIN_KINDS = ["agreement_planned", "sweep_overdue", "sweep_due"] + ["note"] * 5


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


def _kinds(url: str) -> list[str]:
    with session_scope(url) as s:
        return list(s.exec(select(LedgerEvent.kind).order_by(LedgerEvent.id)))


def test_untouched_chain_verifies(chain: str) -> None:
    assert _kinds(chain) == CHAIN_KINDS
    result = _verify(chain)
    assert result.ok and result.events == len(CHAIN_KINDS)


@pytest.mark.parametrize(
    "sql, event_id",
    [
        ("UPDATE ledger_event SET payload = '{\"n\":99}' WHERE id = 4", 4),
        ("UPDATE ledger_event SET actor = 'mallory' WHERE id = 2", 2),
        ("DELETE FROM ledger_event WHERE id = 3", 3),
        ("DELETE FROM ledger_event WHERE id = 6", 6),
        ("DELETE FROM ledger_event WHERE id = 8", 8),  # the newest: only the head row still remembers it
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
    assert _kinds(chain) == [*CHAIN_KINDS, "note"]
    assert _verify(chain).events == len(CHAIN_KINDS) + 1 and _verify(chain).ok


# -- mutation-testing survivors (tests/MUTATION.md); the chain fixture holds 8 events ---------------


def _sql(url: str, *statements: str) -> None:
    """Change rows behind the application's back (PostgreSQL: with the append-only triggers switched off)."""
    with get_engine(url).begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("SET LOCAL session_replication_role = replica")
        for sql in statements:
            conn.exec_driver_sql(sql)


def _events(url: str) -> list[LedgerEvent]:
    with session_scope(url) as s:
        return list(s.exec(select(LedgerEvent).order_by(col(LedgerEvent.id))).all())


def test_stored_head_is_the_last_event_or_genesis(chain: str) -> None:
    last = _events(chain)[-1]
    with session_scope(chain) as s:
        assert ledger.stored_head(s) == (len(CHAIN_KINDS), last.hash)
    _sql(chain, "DELETE FROM ledger_head")
    with session_scope(chain) as s:
        assert ledger.stored_head(s) == (0, GENESIS)


def test_append_stores_the_canonical_payload_and_the_occurrence_it_is_about(chain: str) -> None:
    with session_scope(chain) as s:
        occurrence_id = s.exec(select(col(Occurrence.id))).first()
        assert occurrence_id is not None
        [event_id] = ledger.append(s, [EventDraft("note", "tester", {"b": 2, "a": "一"}, "small", occurrence_id)])
    stored = _events(chain)[-1]
    assert (stored.id, stored.payload, stored.agreement_id, stored.occurrence_id) == (
        event_id,
        '{"a":"一","b":2}',
        "small",
        occurrence_id,
    )
    assert _verify(chain) == ledger.Verification(len(CHAIN_KINDS) + 1, True, None)


def test_verify_reads_in_id_order_across_batches_and_reports_every_event(chain: str) -> None:
    # PostgreSQL writes an updated row at the end of the table: only ORDER BY id gives the chain order back.
    _sql(chain, "UPDATE ledger_event SET actor = actor WHERE id = 2")
    with session_scope(chain) as s:
        assert ledger.verify(s, batch=2) == ledger.Verification(8, True, None)
    _sql(chain, "UPDATE ledger_event SET actor = 'mallory' WHERE id = 3")
    seen: list[int] = []
    with session_scope(chain) as s:
        result = ledger.verify(s, batch=2, on_batch=lambda rows: seen.extend(r.id for r in rows))
        assert ledger.verify(s, batch=2) == result
    assert result == ledger.Verification(
        8, False, ChainBreak(3, "content does not match its hash (altered after writing)")
    )
    assert seen == list(range(1, 9))  # after the break too (coop.verification replays them)


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        # The tail is gone but the head remembers it.
        (
            "DELETE FROM ledger_event WHERE id >= 5",
            ledger.Verification(4, False, ChainBreak(5, "events #5–#8 were deleted")),
        ),
        ("DELETE FROM ledger_event", ledger.Verification(0, False, ChainBreak(1, "events #1–#8 were deleted"))),
        (
            "UPDATE ledger_head SET last_id = 99",
            ledger.Verification(8, False, ChainBreak(9, "events #9–#99 were deleted")),
        ),
        # The head no longer matches the chain's end, but nothing is missing.
        (f"UPDATE ledger_head SET last_hash = '{'1' * 64}'", ledger.Verification(8, False, None)),
        ("DELETE FROM ledger_head", ledger.Verification(8, False, None)),
        # A database with neither events nor a head (created, never written) is an intact empty ledger.
        ("DELETE FROM ledger_event; DELETE FROM ledger_head", ledger.Verification(0, True, None)),
    ],
)
def test_verify_compares_the_chain_with_the_head(chain: str, sql: str, expected: ledger.Verification) -> None:
    _sql(chain, *sql.split("; "))
    assert _verify(chain) == expected
