"""The hash of a ledger event covers every stored column, so no column can change unnoticed."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from typing import Any

import pytest

from coop.ledger import GENESIS, ChainBreak, canonical_json, event_hash, verify_chain

AT = dt.datetime(2026, 3, 2, 9, 30, 15, 123456, tzinfo=dt.UTC)


@dataclass(frozen=True)
class Row:
    id: int
    at: dt.datetime
    actor: str
    kind: str
    agreement_id: str | None
    occurrence_id: int | None
    payload: str
    prev_hash: str
    hash: str


BASE: dict[str, Any] = {
    "prev_hash": GENESIS,
    "seq": 1,
    "at": AT,
    "actor": "张三",
    "kind": "report",
    "agreement_id": "yugang",
    "occurrence_id": 42,
    "payload": '{"outcome":"done"}',
}

CHANGES: list[tuple[str, Any]] = [
    ("prev_hash", "1" * 64),
    ("seq", 2),
    ("at", AT + dt.timedelta(microseconds=1)),
    ("at", AT + dt.timedelta(days=1)),
    ("actor", "李四"),
    ("kind", "waive"),
    ("agreement_id", "other"),
    ("agreement_id", None),
    ("occurrence_id", 43),
    ("occurrence_id", None),
    ("payload", '{"outcome":"partial"}'),
]


@pytest.mark.parametrize("field, value", CHANGES, ids=[f"{f}={v!r}" for f, v in CHANGES])
def test_changing_any_column_changes_the_hash(field: str, value: Any) -> None:
    assert event_hash(**{**BASE, field: value}) != event_hash(**BASE)


def test_the_same_instant_in_another_time_zone_hashes_the_same() -> None:
    shanghai = AT.astimezone(dt.timezone(dt.timedelta(hours=8)))
    assert event_hash(**{**BASE, "at": shanghai}) == event_hash(**BASE)


def _chain(n: int) -> list[Row]:
    rows: list[Row] = []
    prev = GENESIS
    for i in range(1, n + 1):
        at = AT + dt.timedelta(minutes=i)
        payload = f'{{"n":{i}}}'
        digest = event_hash(prev, i, at, "张三", "note", "yugang", 100 + i, payload)
        rows.append(Row(i, at, "张三", "note", "yugang", 100 + i, payload, prev, digest))
        prev = digest
    return rows


def test_an_intact_chain_verifies() -> None:
    assert verify_chain(_chain(5)) is None


@pytest.mark.parametrize(
    "change",
    [
        {"occurrence_id": 999},
        {"occurrence_id": None},
        {"at": AT + dt.timedelta(days=30)},
        {"agreement_id": "other"},
        {"actor": "mallory"},
        {"kind": "waive"},
    ],
    ids=lambda c: next(iter(c)),
)
def test_verify_finds_an_event_altered_in_any_column(change: dict[str, Any]) -> None:
    rows = _chain(5)
    rows[2] = replace(rows[2], **change)
    found = verify_chain(rows)
    assert found is not None and found.event_id == 3


def test_verify_finds_a_missing_event_and_a_broken_link() -> None:
    rows = _chain(5)
    missing = verify_chain(rows[:2] + rows[3:])
    assert missing is not None and missing.event_id == 3
    relinked = rows[:3] + [replace(rows[3], prev_hash=GENESIS)] + rows[4:]
    broken = verify_chain(relinked)
    assert broken is not None and broken.event_id == 4


def test_each_break_says_which_check_failed() -> None:
    rows = _chain(5)
    assert verify_chain(rows[:2] + rows[3:]) == ChainBreak(3, "event #3 is missing (next stored is #4)")
    relinked = rows[:3] + [replace(rows[3], prev_hash=GENESIS)] + rows[4:]
    assert verify_chain(relinked) == ChainBreak(4, "prev_hash does not link to the previous event")
    altered = rows[:1] + [replace(rows[1], actor="mallory")] + rows[2:]
    assert verify_chain(altered) == ChainBreak(2, "content does not match its hash (altered after writing)")


def test_a_chain_resumed_from_a_checkpoint_verifies_from_there() -> None:
    rows = _chain(5)
    assert verify_chain(rows[2:], start_hash=rows[1].hash, start_id=2) is None
    assert verify_chain(rows[2:]) == ChainBreak(1, "event #1 is missing (next stored is #3)")


def test_canonical_json_is_compact_key_sorted_utf8_and_stringifies_dates() -> None:
    payload = {"b": [1, 2], "a": "已完成", "due": dt.date(2026, 3, 2)}
    assert canonical_json(payload) == '{"a":"已完成","b":[1,2],"due":"2026-03-02"}'
    # The same content in another key order is the same text, so it hashes the same.
    assert canonical_json(dict(reversed(payload.items()))) == canonical_json(payload)
