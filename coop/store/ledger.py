"""Append to and verify the ledger inside the caller's transaction."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import func, insert, select
from sqlmodel import Session, col

from coop.ledger import GENESIS, ChainBreak, EventDraft, canonical_json, event_hash, verify_chain
from models.tables import LedgerEvent, LedgerHead, utcnow


def append(session: Session, drafts: Sequence[EventDraft]) -> list[int]:
    """Chain and insert events; the head row lock serialises concurrent writers (PostgreSQL FOR UPDATE)."""
    if not drafts:
        return []
    head = session.execute(select(LedgerHead).where(col(LedgerHead.id) == 1).with_for_update()).scalar_one_or_none()
    if head is None:
        head = LedgerHead(id=1, last_id=0, last_hash=GENESIS)
        session.add(head)
        session.flush()
    at = utcnow()
    rows, ids = [], []
    prev, seq = head.last_hash, head.last_id
    for draft in drafts:
        seq += 1
        payload = canonical_json(draft.payload)
        digest = event_hash(prev, seq, at, draft.actor, draft.kind, draft.agreement_id, draft.occurrence_id, payload)
        rows.append(
            {
                "id": seq,
                "at": at,
                "actor": draft.actor,
                "kind": draft.kind,
                "agreement_id": draft.agreement_id,
                "occurrence_id": draft.occurrence_id,
                "payload": payload,
                "prev_hash": prev,
                "hash": digest,
            }
        )
        ids.append(seq)
        prev = digest
    session.execute(insert(LedgerEvent), rows)
    head.last_id, head.last_hash = seq, prev
    session.add(head)
    session.flush()
    return ids


@dataclass(frozen=True)
class Verification:
    events: int
    head_matches: bool
    first_break: ChainBreak | None

    @property
    def ok(self) -> bool:
        return self.first_break is None and self.head_matches


def verify(
    session: Session, batch: int = 5000, on_batch: Callable[[Sequence[LedgerEvent]], None] | None = None
) -> Verification:
    """Recompute the whole chain in id order, streaming, and compare its end with the head row.

    `on_batch` sees every stored event in id order, also after a break (coop.verification replays them).
    """
    count = session.execute(select(func.count()).select_from(LedgerEvent)).scalar_one()
    prev, last_id = GENESIS, 0
    stream = session.execute(
        select(LedgerEvent).order_by(col(LedgerEvent.id)).execution_options(yield_per=batch)
    ).scalars()
    broken: ChainBreak | None = None
    try:
        for chunk in stream.partitions(batch):
            if on_batch is not None:
                on_batch(chunk)
            if broken is None:
                broken = verify_chain(chunk, prev, last_id)
                prev, last_id = chunk[-1].hash, chunk[-1].id
            elif on_batch is None:
                break
    finally:
        stream.close()  # after a break, PostgreSQL's server-side cursor would stay open until garbage collection
    stream.close()  # after an early break PostgreSQL's server-side cursor is still open
    if broken:
        return Verification(count, False, broken)
    head = session.get(LedgerHead, 1)
    head_ok = (head is None and last_id == 0) or (
        head is not None and head.last_id == last_id and head.last_hash == prev
    )
    if not head_ok and head is not None and head.last_id > last_id:
        return Verification(
            count, False, ChainBreak(last_id + 1, f"events #{last_id + 1}–#{head.last_id} were deleted")
        )
    return Verification(count, head_ok, None)


def stored_head(session: Session) -> tuple[int, str]:
    """The head row as stored: (last event id, its hash); an empty ledger is (0, GENESIS)."""
    row = session.get(LedgerHead, 1)
    return (0, GENESIS) if row is None else (row.last_id, row.last_hash)
