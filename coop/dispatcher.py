"""The dispatch loop: claim a batch, deliver it concurrently, settle it; repeat until nothing is due in time."""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from sqlalchemy.exc import DBAPIError

from coop.notify.channels import Channel, resolve_channel
from coop.notify.dispatch import Outgoing, deliver_each
from coop.notify.robots import DeliveryResult
from coop.settings import Settings, get_settings
from coop.store.outbox import Claimed, Settled, claim, next_retry_at, settle
from models.db import session_scope
from models.tables import utcnow

SETTLE_TRIES = 3


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass
class DrainReport:
    """Counts per (channel, recipient department id, outcome) — what a coordinator sees in the artifact."""

    counts: Counter[tuple[str, int, str]] = field(default_factory=Counter)
    dead: list[tuple[int, str, str]] = field(default_factory=list)  # (outbox id, channel, error)
    rounds: int = 0

    def add(self, settled: list[Settled]) -> None:
        for s in settled:
            self.counts[(s.message.channel, s.message.department_id, s.outcome)] += 1
            if s.outcome == "dead":
                self.dead.append((s.message.id, s.message.channel, s.result.detail))

    def total(self, outcome: str) -> int:
        return sum(n for (_, _, o), n in self.counts.items() if o == outcome)


def drain_outbox(
    database_url: str | None = None,
    *,
    worker: str | None = None,
    wait_seconds: float | None = None,
    batch_size: int = 200,
    settings: Settings | None = None,
    resolve: Callable[[str], Channel] = resolve_channel,
) -> DrainReport:
    """Each claim and each settle is its own short transaction; a crash in between only delays (lease expiry)."""
    cfg = settings or get_settings()
    me = worker or worker_name()
    budget = cfg.notify_wait_seconds if wait_seconds is None else wait_seconds
    deadline = time.monotonic() + budget
    report = DrainReport()
    while True:
        with session_scope(database_url) as session:
            batch = claim(session, me, batch_size, utcnow(), cfg.notify_lease_seconds)
        if batch:
            report.rounds += 1
            report.add(_deliver_and_settle(database_url, me, batch, cfg, resolve))
            continue
        with session_scope(database_url) as session:
            upcoming = next_retry_at(session)
        if upcoming is None:
            return report
        wait = (upcoming - utcnow()).total_seconds()
        if time.monotonic() + max(wait, 0) > deadline:
            return report
        time.sleep(min(max(wait, 0.01), 5.0))


def _deliver_and_settle(
    database_url: str | None, worker: str, batch: list[Claimed], cfg: Settings, resolve: Callable[[str], Channel]
) -> list[Settled]:
    async def main() -> list[Settled]:
        # apprise is synchronous: give it as many threads as deliveries may be in flight (the default pool has ~6).
        asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(max_workers=cfg.notify_concurrency + 2))
        return await _deliver_and_settle_async(database_url, worker, batch, cfg, resolve)

    return asyncio.run(main())


async def _deliver_and_settle_async(
    database_url: str | None, worker: str, batch: list[Claimed], cfg: Settings, resolve: Callable[[str], Channel]
) -> list[Settled]:
    """Record results in small groups as they arrive: a crash can then resend at most what was in flight."""
    by_id = {m.id: m for m in batch}
    outgoing = [Outgoing(m.id, m.dedup_key, m.channel, m.subject, m.body) for m in batch]
    group = cfg.notify_concurrency  # unrecorded-but-sent messages stay bounded by one group plus those in flight
    settled: list[Settled] = []
    waiting: list[tuple[Claimed, DeliveryResult, str, int]] = []

    def record(chunk: list[tuple[Claimed, DeliveryResult, str, int]]) -> list[Settled]:
        # These messages have already gone out: if the database connection drops, record them on a
        # fresh one rather than die and let their leases run out, which would send them all again.
        tries = 1
        while True:
            try:
                with session_scope(database_url) as session:
                    return settle(
                        session, worker, chunk, utcnow(), cfg.notify_max_attempts, cfg.notify_backoff_seconds, cfg.notify_backoff_max_seconds
                    )
            except DBAPIError as exc:
                if not exc.connection_invalidated or tries >= SETTLE_TRIES:
                    raise
                time.sleep(0.2 * tries)
                tries += 1

    async for d in deliver_each(outgoing, resolve, cfg.notify_concurrency, cfg.notify_rate_per_minute, cfg.notify_timeout_seconds):
        waiting.append((by_id[d.id], d.result, d.channel_kind, d.duration_ms))
        if len(waiting) >= group:
            settled += await asyncio.to_thread(record, waiting)
            waiting = []
    if waiting:
        settled += await asyncio.to_thread(record, waiting)
    return settled
