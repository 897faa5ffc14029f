"""Hash chain of the ledger: pure functions, so verification needs nothing but the rows."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from typing import Any

GENESIS = "0" * 64


def canonical_json(payload: Any) -> str:
    return json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str)


def event_hash(
    prev_hash: str,
    seq: int,
    at: dt.datetime,
    actor: str,
    kind: str,
    agreement_id: str | None,
    occurrence_id: int | None,
    payload: str,
) -> str:
    """Every stored column goes into the hash, so changing any of them breaks the chain."""
    stamp = at.astimezone(dt.UTC).isoformat(timespec="microseconds")
    material = "\x1f".join(
        [
            prev_hash,
            str(seq),
            stamp,
            actor,
            kind,
            agreement_id or "",
            "" if occurrence_id is None else str(occurrence_id),
            payload,
        ]
    )
    return hashlib.sha256(material.encode()).hexdigest()


@dataclass(frozen=True)
class EventDraft:
    """An event before it gets its place in the chain."""

    kind: str
    actor: str
    payload: dict[str, Any]
    agreement_id: str | None = None
    occurrence_id: int | None = None


@dataclass(frozen=True)
class ChainBreak:
    event_id: int
    reason: str


def verify_chain(rows: Any, start_hash: str = GENESIS, start_id: int = 0) -> ChainBreak | None:
    """First event whose stored hash, link or sequence does not match; rows must be ordered by id."""
    prev, expected_id = start_hash, start_id + 1
    for row in rows:
        if row.id != expected_id:
            return ChainBreak(expected_id, f"event #{expected_id} is missing (next stored is #{row.id})")
        if row.prev_hash != prev:
            return ChainBreak(row.id, "prev_hash does not link to the previous event")
        recomputed = event_hash(
            prev, row.id, row.at, row.actor, row.kind, row.agreement_id, row.occurrence_id, row.payload
        )
        if recomputed != row.hash:
            return ChainBreak(row.id, "content does not match its hash (altered after writing)")
        prev, expected_id = row.hash, expected_id + 1
    return None
