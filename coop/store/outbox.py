"""Claiming and settling outbox messages: leases plus SKIP LOCKED, so concurrent dispatchers never share a row."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    and_,
    bindparam,
    case,
    false,
    func,
    insert,
    or_,
    select,
    true,
    update,
)
from sqlmodel import Session, col

from coop.ledger import EventDraft
from coop.notify.results import DeliveryResult
from coop.store import ledger
from coop.store.queries import join_department
from models.read import OutboxMessagePublic
from models.tables import (
    Agency,
    DeliveryAttempt,
    Department,
    OutboxMessage,
    OutboxStatus,
)


@dataclass(frozen=True)
class Claimed:
    """A message leased to one dispatcher; `attempt` counts this try."""

    id: int
    dedup_key: str
    channel: str
    subject: str
    body: str
    attempt: int
    department_id: int
    recipient_role: str
    parts_sent: int = 0
    """Parts of a long robot message already accepted by earlier attempts: this try starts after them."""


CHANNEL_CHUNK = 1000
"""Channel names per IN list of a `ChannelFilter` (several lists joined by OR / AND): a plan of thousands of
channels stays readable in a query log, and each list is hashed or searched as one set by either engine."""
MAX_BOUND_CHANNELS = 30_000
"""Past this many names a filter's values are written into the SQL (escaped by SQLAlchemy) instead of bound:
SQLite takes at most 32,766 parameters in one statement."""


@dataclass(frozen=True)
class ChannelFilter:
    """Which channels one dispatcher of a sharded run claims: only `channels` (`include`), or every channel but
    them (the parent process, which also takes channels nobody was assigned). Plain data: it pickles to a child."""

    channels: frozenset[str]
    include: bool = True

    def condition(self) -> ColumnElement[bool]:
        names = sorted(self.channels)
        literal = len(names) > MAX_BOUND_CHANNELS
        column = col(OutboxMessage.channel)
        lists: list[BindParameter[str]] = [
            bindparam(f"channels_{i}", names[i : i + CHANNEL_CHUNK], expanding=True, literal_execute=literal)
            for i in range(0, len(names), CHANNEL_CHUNK)
        ]
        if not lists:  # nothing named: an include filter takes nothing, an exclude filter everything
            return false() if self.include else true()
        if self.include:
            return or_(*(column.in_(values) for values in lists))
        return and_(*(column.not_in(values) for values in lists))


@dataclass(frozen=True)
class Settled:
    message: Claimed
    result: DeliveryResult
    channel_kind: str
    duration_ms: int
    outcome: str  # sent / retry / dead


def claim(
    session: Session,
    worker: str,
    limit: int,
    now: dt.datetime,
    lease_seconds: float,
    channels: ChannelFilter | None = None,
) -> list[Claimed]:
    """Due pending rows, and rows whose lease ran out (their dispatcher died), become ours until the lease ends.

    `channels`: only rows of these channels (or of all others), for a run sharded by destination."""
    query = select(col(OutboxMessage.id)).where(_due(now))
    if channels is not None:
        query = query.where(channels.condition())
    ids = list(
        session.execute(
            query.order_by(col(OutboxMessage.next_attempt_at), col(OutboxMessage.id))
            .limit(limit)
            .with_for_update(skip_locked=True)
        ).scalars()
    )
    if not ids:
        return []
    session.execute(
        update(OutboxMessage)
        .where(col(OutboxMessage.id).in_(ids))
        .values(
            status=OutboxStatus.sending,
            lease_until=now + dt.timedelta(seconds=lease_seconds),
            claimed_by=worker,
            attempts=OutboxMessage.attempts + 1,
        )
    )
    rows = session.execute(
        select(OutboxMessage).where(col(OutboxMessage.id).in_(ids)).order_by(col(OutboxMessage.id))
    ).scalars()
    return [
        Claimed(
            r.id, r.dedup_key, r.channel, r.subject, r.body, r.attempts, r.department_id, r.recipient_role, r.parts_sent
        )
        for r in rows
    ]


def _due(now: dt.datetime) -> ColumnElement[bool]:
    return or_(
        (col(OutboxMessage.status) == OutboxStatus.pending) & (col(OutboxMessage.next_attempt_at) <= now),
        (col(OutboxMessage.status) == OutboxStatus.sending) & (col(OutboxMessage.lease_until) < now),
    )


def backlog_by_channel(session: Session, now: dt.datetime) -> dict[str, int]:
    """Every channel with a message still to deliver (pending, or being sent), and how many of them a claim could
    take now (0 for a channel whose messages wait for a retry or are leased). One GROUP BY, no bodies read.

    A sharded run assigns every such channel, due or not: a retry coming due later must go out from the process
    that holds its destination's pacing window."""
    due = func.sum(case((_due(now), 1), else_=0))
    rows = session.execute(
        select(col(OutboxMessage.channel), due)
        .where(col(OutboxMessage.status).in_([OutboxStatus.pending, OutboxStatus.sending]))
        .group_by(col(OutboxMessage.channel))
    )
    return {channel: int(count or 0) for channel, count in rows}


def backoff(attempt: int, base: float, ceiling: float, retry_after: float | None) -> float:
    """Exponential, doubling per attempt, never sooner than the sink asked (Retry-After)."""
    delay = min(ceiling, base * 2.0 ** max(0, attempt - 1))
    return max(delay, retry_after or 0.0)


def settle(
    session: Session,
    worker: str,
    deliveries: Sequence[tuple[Claimed, DeliveryResult, str, int]],
    now: dt.datetime,
    max_attempts: int,
    base: float,
    ceiling: float,
) -> list[Settled]:
    """Record every attempt and move each message to sent / pending (retry later) / dead.

    A few statements per call, however many messages: one UPDATE for all sent, one executemany each for
    retries and dead letters, one multi-row INSERT of the attempts (rows in id order: a stable lock order).
    """
    settled: list[Settled] = []
    sent: list[int] = []
    retry: list[dict[str, object]] = []
    dead: list[dict[str, object]] = []
    for message, result, kind, duration_ms in deliveries:
        if result.ok:
            outcome = "sent"
            sent.append(message.id)
        elif result.retryable and message.attempt < max_attempts:
            wait = backoff(message.attempt, base, ceiling, result.retry_after)
            outcome = "retry"
            retry.append(
                {
                    "b_id": message.id,
                    "b_next": now + dt.timedelta(seconds=wait),
                    "b_error": result.detail,
                    "b_parts": parts_done(message, result),
                }
            )
        else:
            outcome = "dead"
            dead.append({"b_id": message.id, "b_error": result.detail, "b_parts": parts_done(message, result)})
        settled.append(Settled(message, result, kind, duration_ms, outcome))
    table = OutboxMessage.__table__  # type: ignore[attr-defined]  # Core statements: executemany with per-row values
    # Only the current lease holder may settle: a dispatcher that lost its lease must not overwrite.
    mine = (table.c.claimed_by == worker) & (table.c.status == OutboxStatus.sending)
    if sent:
        session.execute(
            update(table)
            .where(table.c.id.in_(sorted(sent)), mine)
            .values(status=OutboxStatus.sent, sent_at=now, last_error=None, lease_until=None)
        )
    if retry:
        session.execute(
            update(table)
            .where(table.c.id == bindparam("b_id"), mine)
            .values(
                status=OutboxStatus.pending,
                next_attempt_at=bindparam("b_next"),
                last_error=bindparam("b_error"),
                lease_until=None,
                parts_sent=bindparam("b_parts"),
            ),
            sorted(retry, key=lambda r: r["b_id"]),
        )
    if dead:
        session.execute(
            update(table)
            .where(table.c.id == bindparam("b_id"), mine)
            .values(
                status=OutboxStatus.dead,
                last_error=bindparam("b_error"),
                lease_until=None,
                parts_sent=bindparam("b_parts"),
            ),
            sorted(dead, key=lambda r: r["b_id"]),
        )
    if settled:
        session.execute(
            insert(DeliveryAttempt.__table__),  # type: ignore[attr-defined]
            [
                {
                    "outbox_id": s.message.id,
                    "at": now,
                    "channel": s.message.channel,
                    "channel_kind": s.channel_kind,
                    "ok": s.result.ok,
                    "retryable": s.result.retryable,
                    "status_code": s.result.status,
                    "detail": s.result.detail[:1000],
                    "duration_ms": s.duration_ms,
                    "worker": worker,
                }
                for s in settled
            ],
        )
    return settled


def parts_done(message: Claimed, result: DeliveryResult) -> int:
    """Parts of the message accepted so far: what was recorded at the claim, and what this attempt got accepted."""
    if result.total_parts <= 1:
        return message.parts_sent
    return max(message.parts_sent, result.first_part + result.parts)


def record_parts(session: Session, worker: str, outbox_id: int, parts_sent: int) -> bool:
    """After each part of a long robot message is accepted: remember it, so a retry by any dispatcher resumes at
    the first unsent part. Only the lease holder may write; False means another dispatcher holds the row now."""
    return outbox_id in record_parts_of(session, worker, {outbox_id: parts_sent})


def record_parts_of(session: Session, worker: str, parts_sent: Mapping[int, int]) -> set[int]:
    """`record_parts` for several messages (outbox id → parts accepted) in one statement; returns the ids
    recorded, i.e. still held by `worker`."""
    if not parts_sent:
        return set()
    table = OutboxMessage.__table__  # type: ignore[attr-defined]
    return set(
        session.execute(
            update(table)
            .where(
                table.c.id.in_(sorted(parts_sent)),
                table.c.claimed_by == worker,
                table.c.status == OutboxStatus.sending,
            )
            .values(parts_sent=case(dict(parts_sent), value=table.c.id))
            .returning(table.c.id)
        ).scalars()
    )


def renew(session: Session, worker: str, ids: Sequence[int], now: dt.datetime, lease_seconds: float) -> set[int]:
    """Extend this dispatcher's leases on messages it still holds (waiting for their turn, or being sent);
    returns the ids still ours. One whose lease ran out and that another dispatcher took is not among them."""
    if not ids:
        return set()
    table = OutboxMessage.__table__  # type: ignore[attr-defined]
    return set(
        session.execute(
            update(table)
            .where(table.c.id.in_(sorted(ids)), table.c.claimed_by == worker, table.c.status == OutboxStatus.sending)
            .values(lease_until=now + dt.timedelta(seconds=lease_seconds))
            .returning(table.c.id)
        ).scalars()
    )


def release(session: Session, worker: str, messages: Sequence[Claimed]) -> None:
    """Hand back claimed messages that were never sent (their lease would have run out first): due at once,
    and the claim's attempt is taken back. Matching on the attempt number means only this very claim is
    undone, never a newer claim of the same row made after the lease ran out."""
    if not messages:
        return
    table = OutboxMessage.__table__  # type: ignore[attr-defined]
    session.execute(
        update(table)
        .where(
            table.c.id == bindparam("b_id"),
            table.c.attempts == bindparam("b_attempt"),
            table.c.claimed_by == worker,
            table.c.status == OutboxStatus.sending,
        )
        .values(status=OutboxStatus.pending, attempts=table.c.attempts - 1, claimed_by=None, lease_until=None),
        [{"b_id": m.id, "b_attempt": m.attempt} for m in sorted(messages, key=lambda m: m.id)],
    )


def next_retry_at(session: Session, channels: ChannelFilter | None = None) -> dt.datetime | None:
    """When the earliest waiting message becomes due (or a lease runs out); None when nothing waits.

    `channels`: only messages of these channels (or of all others), as `claim`."""
    only = [] if channels is None else [channels.condition()]
    pending = session.execute(
        select(func.min(OutboxMessage.next_attempt_at)).where(col(OutboxMessage.status) == OutboxStatus.pending, *only)
    ).scalar_one()
    leased = session.execute(
        select(func.min(OutboxMessage.lease_until)).where(col(OutboxMessage.status) == OutboxStatus.sending, *only)
    ).scalar_one()
    times = [t for t in (pending, leased) if t is not None]
    return min(times) if times else None


def requeue_dead(session: Session, ids: Sequence[int] | None, now: dt.datetime, actor: str = "coordinator") -> int:
    """A coordinator sends dead-lettered messages again, e.g. after fixing a channel's configuration.

    Who re-queued which messages goes to the ledger in the same transaction: a second send is a decision.
    """
    stmt = update(OutboxMessage).where(col(OutboxMessage.status) == OutboxStatus.dead)
    if ids is not None:
        stmt = stmt.where(col(OutboxMessage.id).in_([i for i in ids if 0 < i < 2**31]))
    values = {
        "status": OutboxStatus.pending,
        "attempts": 0,
        "next_attempt_at": now,
        "claimed_by": None,
        "lease_until": None,
    }
    requeued = sorted(session.execute(stmt.values(**values).returning(col(OutboxMessage.id))).scalars())
    if requeued:
        ledger.append(session, [EventDraft("outbox_requeued", actor, {"outbox_ids": requeued, "count": len(requeued)})])
    return len(requeued)


OutboxRow = OutboxMessagePublic  # the read model, under the name callers import


def list_messages(session: Session, status: str | None = None, limit: int = 100) -> list[OutboxRow]:
    """Messages of one status (all when None), newest first; errors are stored already redacted."""
    query = (
        join_department(select(OutboxMessage, col(Agency.name), col(Department.name)), OutboxMessage.department_id)
        .order_by(col(OutboxMessage.id).desc())
        .limit(limit)
    )
    if status is not None:
        query = query.where(col(OutboxMessage.status) == status)
    return [
        OutboxMessagePublic(
            id=m.id,
            status=str(m.status),
            channel=m.channel,
            recipient=f"{party}/{dept}",
            recipient_role=m.recipient_role,
            kind=m.kind,
            subject=m.subject,
            attempts=m.attempts,
            parts_sent=m.parts_sent,
            created_at=m.created_at,
            next_attempt_at=m.next_attempt_at,
            last_error=m.last_error,
        )
        for m, party, dept in session.execute(query)
    ]


def dead_letters(session: Session, limit: int = 1000) -> list[OutboxRow]:
    """Messages that gave up after their last attempt and wait for a coordinator (`coop outbox requeue`)."""
    return list_messages(session, OutboxStatus.dead, limit)


def status_counts(session: Session) -> dict[str, int]:
    """How many messages are in each state, for the coordinator's overview."""
    return {
        str(s): n
        for s, n in session.execute(select(col(OutboxMessage.status), func.count()).group_by(col(OutboxMessage.status)))
    }
