"""Deliver the outbox: claim, send concurrently, record results as they come, claim more before running dry;
repeat until nothing is due in time.

The sending itself is `coop.notify.sender.Deliverer`; this module owns the leases and the bookkeeping, and, for a
large backlog, the split of one run over several processes (`notify_processes`), partitioned by destination.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
import logging
import os
import pickle
import socket
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import IO, TypeVar

from sqlalchemy.exc import DBAPIError
from sqlmodel import Session

from coop.errors import CoopError
from coop.notify.channels import Channel, redact, resolve_channel
from coop.notify.results import DeliveryResult, DrainReport
from coop.notify.sender import Deliverer, Outgoing
from coop.settings import Settings
from coop.store.outbox import (
    ChannelFilter,
    Claimed,
    Settled,
    backlog_by_channel,
    claim,
    next_retry_at,
    record_parts_of,
    release,
    renew,
    settle,
)
from models.db import dispose_engines, session_scope
from models.tables import utcnow

_LOG = logging.getLogger(__name__)

SETTLE_TRIES = 3
T = TypeVar("T")
# A result waits at most this long for others to be written with it (see `_Drain.spare`): under load one
# transaction then records several deliveries instead of one each, which halves the CPU per message.
LINGER = 0.01
# Messages held at once (claimed, not yet recorded) per delivery slot. A message to a robot that already took its
# 20 posts of the minute waits, holding no slot, until the oldest of them leaves the window (up to a minute), and
# a part takes a slot for one request (~50 ms at a 50 ms robot): many held per slot keep every slot busy then.
HELD_PER_SLOT = 60
# `notify_processes` 0 (automatic): one process per this many due messages, so a run takes a second process from
# 2 × AUTO_SHARE due messages on. A spawned process costs ~0.7 s of CPU importing before it sends anything. Measured
# on 2 cores against 50 ms loopback sinks (issue 16): the bench's dispatch of 1,000 messages ran as fast in two
# processes as in one (~660-705 msg/s), 3,000 went from ~690 to ~970 msg/s, the 1M day's 2,097 digests from ~450 to
# ~600 msg/s; the 100k day's 385 gained nothing from a second process.
AUTO_SHARE = 500
AUTO_MAX_PROCESSES = 8
# A spawned process records its first delivery ~0.7 s after this one (its imports), by when this one sent ~200
# of its own (~300-480 a second beside the child): each child's shard is planned as if it already held that many.
# Measured on the 1M day with 2 processes: at 0 the child finished ~0.5 s after the parent, at 100 ~0.2 s after.
CHILD_HEAD_START = 200


def worker_name() -> str:
    """`host:pid`, how leases name the dispatcher holding them."""
    return f"{socket.gethostname()}:{os.getpid()}"


def drain_outbox(
    database_url: str | None = None,
    *,
    settings: Settings,
    worker: str | None = None,
    wait_seconds: float | None = None,
    batch_size: int = 200,
    resolve: Callable[[str], Channel] | None = None,
) -> DrainReport:
    """Deliver every due outbox message, waiting up to `wait_seconds` for retries that come due.

    `database_url` defaults to `settings.database_url`. Each claim and each settle is its own short
    transaction; a crash in between only delays (lease expiry). One event loop and one set of connections
    per process for the whole run; the next batch is claimed while the previous one is still being delivered.

    With a large backlog (`settings.notify_processes`, see `process_count`) the run is split by destination over
    spawned processes, this one among them, and their reports merged; a failed process raises
    `DeliveryProcessFailed` once the others finished. A custom `resolve` (tests, callers resolving channels their
    own way) cannot be rebuilt in another process: such a run stays in this one.
    """
    me = worker or worker_name()
    budget = settings.notify_wait_seconds if wait_seconds is None else wait_seconds
    url = database_url or settings.database_url
    if resolve is not None or settings.notify_processes == 1:
        return asyncio.run(_Drain(url, me, batch_size, settings, resolve or channel_resolver(settings)).run(budget))
    # Channels resolved once here, for the split and for this process's own deliveries.
    resolver = functools.cache(channel_resolver(settings))
    shards = _shards(url, settings, resolver)
    if len(shards) <= 1:
        return asyncio.run(_Drain(url, me, batch_size, settings, resolver).run(budget))
    return _drain_sharded(url, me, batch_size, settings, resolver, shards, budget)


def channel_resolver(settings: Settings) -> Callable[[str], Channel]:
    """Channels by name; an unconfigured one goes to the local inbox unless COOP_REQUIRE_CHANNELS=1."""
    inbox = None if settings.require_channels else settings.inbox_dir
    return functools.partial(resolve_channel, inbox=inbox)


# ---------------------------------------------------------------- several processes, one run


class DeliveryProcessFailed(RuntimeError):
    """A process of a sharded run failed (raised, or died). The other processes finished their shares first;
    `report` is what every process recorded (the failed one's up to its failure, when it could still tell)."""

    def __init__(self, message: str, report: DrainReport):
        super().__init__(message)
        self.report = report


def process_count(due: int, setting: int, cpus: int) -> int:
    """How many processes deliver a run with `due` messages claimable now: `setting` when set (≥ 1), else one per
    `AUTO_SHARE` due messages, at least one, at most `cpus` and `AUTO_MAX_PROCESSES`."""
    if setting >= 1:
        return setting
    return max(1, min(cpus, AUTO_MAX_PROCESSES, due // AUTO_SHARE))


def plan_shards(
    backlog: Mapping[str, int], destinations: Mapping[str, str | None], processes: int, head_start: int = 0
) -> list[set[str]]:
    """Channels per process, this (parent) process's first; only non-empty shards after the first.

    Channels with one destination (`destinations[channel]`, the resolved URL) stay together: a robot's pacing
    window lives in one process. Destinations go largest backlog first (`backlog[channel]` messages) to the
    least-loaded shard, the lowest index on a tie, each child counted `head_start` messages loaded from the start
    (the parent sends while children start); a channel without a destination (unresolvable: it only
    dead-letters) stays with the parent. Pure, so the split can be checked without a database.
    """
    groups: dict[str, set[str]] = {}
    shards: list[set[str]] = [set() for _ in range(max(1, processes))]
    loads = [0] + [head_start] * (len(shards) - 1)
    for channel in backlog:
        destination = destinations.get(channel)
        if destination is None:
            shards[0].add(channel)
            loads[0] += backlog[channel]
        else:
            groups.setdefault(destination, set()).add(channel)
    weight = {destination: sum(backlog[c] for c in channels) for destination, channels in groups.items()}
    for destination in sorted(groups, key=lambda d: (-weight[d], d)):
        least = min(range(len(shards)), key=lambda i: (loads[i], i))
        shards[least] |= groups[destination]
        loads[least] += weight[destination]
    return shards[:1] + [shard for shard in shards[1:] if shard]


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _shards(url: str, settings: Settings, resolve: Callable[[str], Channel]) -> list[set[str]]:
    """The run's split (see `plan_shards`), or a single shard when one process is enough."""
    with session_scope(url) as session:
        backlog = backlog_by_channel(session, utcnow())
    processes = process_count(sum(backlog.values()), settings.notify_processes, _cpus())
    if processes <= 1 or len(backlog) <= 1:
        return [set(backlog)]
    destinations: dict[str, str | None] = {}
    for channel in backlog:
        try:
            destinations[channel] = resolve(channel).url
        except CoopError:
            destinations[channel] = None
    return plan_shards(backlog, destinations, processes, CHILD_HEAD_START)


# A child's program: run with `python -c`, not multiprocessing's spawn, which imports the caller's main module again
# in every child (a Prefect flow run's is Prefect's engine, ~0.8 s of CPU; a coordinator's own script without a
# `__main__` guard would start itself over).
CHILD = "from coop.services.delivery import serve_shard; serve_shard()"


@dataclass
class _Child:
    channels: frozenset[str]
    process: subprocess.Popen[bytes]
    name: str


def _drain_sharded(
    url: str,
    me: str,
    batch_size: int,
    settings: Settings,
    resolve: Callable[[str], Channel],
    shards: list[set[str]],
    budget: float,
) -> DrainReport:
    """Start one process per shard after the first (its own interpreter, `CHILD`: never forked, this process may
    have threads and an event loop), deliver the first shard and every channel no child holds here, then wait for
    every child.

    Each message is claimed by one process only (leases, and disjoint channel filters); a child that fails
    leaves its held rows leased, to be claimed again once their lease runs out, as any crashed dispatcher's, and
    the run raises. Its share is not re-drained here: what it sent to its robots in the last minute is unknown
    here (their windows would break), and a cause that killed it would likely strike again."""
    children: list[_Child] = []
    report = DrainReport()
    own: BaseException | None = None
    try:
        for index, shard in enumerate(shards[1:], start=1):
            channels = frozenset(shard)
            name = f"coop-notify-{index}"
            process = _start_child(name, (url, batch_size, settings, ChannelFilter(channels), budget))
            if process is None:  # no process, no harm: its channels stay with this one
                continue
            children.append(_Child(channels, process, name))
        taken = frozenset().union(*(child.channels for child in children))
        _LOG.info(
            "投递分 %d 个进程进行：本进程 %d 个渠道，子进程各 %s 个 (delivery split over %d processes by destination)",
            len(children) + 1,
            sum(len(shard) for shard in shards) - len(taken),
            "、".join(str(len(child.channels)) for child in children),
            len(children) + 1,
        )
        mine = ChannelFilter(taken, include=False)
        report = asyncio.run(_Drain(url, me, batch_size, settings, resolve, mine).run(budget))
    except BaseException as exc:
        own = exc
        raise
    finally:
        failures: list[str] = []
        for child in children:
            child_report, failure = _outcome(child, settings)
            if child_report is not None:
                _merge(report, child_report)
            if failure is not None:
                failures.append(failure)
        if failures and own is not None:
            own.add_note("；".join(failures))
    if failures:
        raise DeliveryProcessFailed("；".join(failures), report)
    return report


def _start_child(name: str, job: tuple[object, ...]) -> subprocess.Popen[bytes] | None:
    """A child running `CHILD` with its job handed over, or None (logged) when it could not be started."""
    process: subprocess.Popen[bytes] | None = None
    try:
        process = subprocess.Popen([sys.executable, "-c", CHILD], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        assert process.stdin is not None
        with process.stdin as stdin:
            pickle.dump(job, stdin)
        return process
    except OSError as exc:
        if process is not None:  # started, but gone before it took its job
            process.kill()
            process.wait()
            if process.stdout is not None:
                process.stdout.close()
        _LOG.warning("投递子进程 %s 未能启动（%s），其渠道改由本进程投递 (delivery process did not start)", name, exc)
        return None


def _outcome(child: _Child, settings: Settings) -> tuple[DrainReport | None, str | None]:
    """Wait for a child: its report, and what failed (None when it finished)."""
    assert child.process.stdout is not None
    with child.process.stdout as answer:
        told = answer.read()  # the report comes last; a child that died before telling leaves nothing
    child.process.wait()
    sent: tuple[DrainReport, str | None] | None = pickle.loads(told) if told else None
    if sent is not None and sent[1] is None and child.process.returncode == 0:
        return sent[0], None
    named = "、".join(sorted(child.channels)[:3]) + ("等" if len(child.channels) > 3 else "")
    why = sent[1] if sent is not None and sent[1] else f"进程意外退出，退出码 {child.process.returncode} (died)"
    message = (
        f"投递子进程 {child.name}（pid {child.process.pid}，负责 {len(child.channels)} 个渠道：{named}）"
        f"失败：{why}。其他进程已投递完各自的消息；该进程已领取、尚未记录的消息保留租约，"
        f"租约到期（{settings.notify_lease_seconds:g} 秒）后由下一次投递重新领取，不会因分片重复发送 "
        f"(delivery process {child.name} failed; its leased messages are claimed again once their lease "
        "runs out)"
    )
    return (sent[0] if sent is not None else None), message


def _merge(into: DrainReport, other: DrainReport) -> None:
    into.counts.update(other.counts)
    into.dead.extend(other.dead)
    into.rounds += other.rounds


def serve_shard() -> None:
    """A child's whole life (`CHILD`): its job from stdin, its report (and failure, if any) to stdout, last."""
    # Stray output of anything it runs goes to stderr: stdout carries only the report.
    answer = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    url, batch_size, settings, channels, budget = pickle.load(sys.stdin.buffer)
    _drain_shard(answer, url, batch_size, settings, channels, budget)


def _drain_shard(
    answer: IO[bytes], url: str, batch_size: int, settings: Settings, channels: ChannelFilter, budget: float
) -> None:
    """Deliver one shard and tell the parent: (report, None), or (what was recorded, the failure).

    Channels are resolved here again (the environment is inherited), the worker named after this process."""
    drain = _Drain(url, worker_name(), batch_size, settings, channel_resolver(settings), channels)
    try:
        asyncio.run(drain.run(budget))
    except BaseException as exc:
        with answer:
            pickle.dump((drain.report, redact(f"{type(exc).__name__}: {exc}")), answer)
        raise  # its traceback goes to the child's stderr, the parent's log
    with answer:
        pickle.dump((drain.report, None), answer)
    # Done: leave without the interpreter's teardown of every imported module (~0.2 s the parent would wait for
    # in `wait`), once the database connections are closed properly and the output is flushed.
    dispose_engines()
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


Result = tuple[int, DeliveryResult, str, int, int]  # (outbox id, result, channel kind, duration ms, requests)


class _Drain:
    """The state of one run. Every held message is in exactly one place: waiting for its (next) turn, holding
    no slot, being sent, sent but not yet recorded (`results`), or not sent and to be handed back (`unsent`).

    Leases are renewed while messages are held: one waiting its turn (per-channel pacing may hold it for
    minutes) does not lose its lease to another dispatcher, and a crashed dispatcher's leases still run out.
    """

    def __init__(
        self,
        database_url: str,
        worker: str,
        batch_size: int,
        cfg: Settings,
        resolve: Callable[[str], Channel],
        channels: ChannelFilter | None = None,
    ):
        self.url, self.worker, self.batch_size, self.cfg, self.resolve = database_url, worker, batch_size, cfg, resolve
        self.channels = channels  # this process's share of a sharded run; None: every channel
        self.report = DrainReport()
        self.held: dict[int, Claimed] = {}  # claimed by us and not yet recorded; the newest claim of each row
        self.lease_end: dict[int, float] = {}  # time.monotonic() by which each held message's lease runs out
        self.waiting: set[int] = set()  # held, not yet past pacing and a free slot
        self.lost: set[int] = set()  # held, but a renewal found another dispatcher had taken it: not to be sent
        self.renew_at = 0.0  # time.monotonic() when the held leases are next extended
        self.results: list[Result] = []
        self.unsent: list[int] = []
        # Parts of long messages accepted and to be recorded with the next write: id → (parts done, answer)
        self.parts: dict[int, tuple[int, asyncio.Future[bool]]] = {}
        self.unrecorded = 0  # requests of the messages in `results` or being written right now
        self.sending = 0  # requests of the deliveries under way
        self.first_result = 0.0  # time.monotonic() when the oldest of `results` and `parts` came in
        self.tasks: set[asyncio.Task[None]] = set()
        self.failure: BaseException | None = None  # a delivery task died of a bug: the run fails with it
        self.changed = asyncio.Event()  # something above moved: the main loop looks again
        # Deliveries waiting for room, first come first served: (requests, woken once they are reserved). Only
        # those that fit are woken (a condition notifying all would wake every held message each time).
        self.queue: deque[tuple[int, asyncio.Future[None]]] = deque()
        # The next parts of long robot messages already under way go before messages not yet started, first come
        # first served among themselves: a part whose robot's turn has come would otherwise queue behind every
        # message claimed meanwhile (issue 16: on the 1M-row day the three-part digests' last parts went seconds
        # after every single-post digest).
        self.resumed: deque[tuple[int, asyncio.Future[None]]] = deque()
        # What a crash may send again is what is under way plus what was sent but not yet recorded, counted
        # in requests (a long robot message counts the part being sent: each accepted part is recorded before the
        # next goes, and a retry resumes after it). A request starts only while those stay within the concurrency
        # plus `spare`, or when nothing else is under way.
        # Results are written as soon as `spare` requests' worth are waiting (or LINGER passed, or nothing
        # else is under way).
        self.limit = max(1, cfg.notify_concurrency)
        self.spare = max(1, self.limit // 8)
        # Claim more when fewer than this wait for a slot, so no slot idles while the claim runs.
        self.low_water = self.limit
        # Long robot messages wait between their parts holding no slot: many more messages than slots are held
        # then, but never more than this (memory, and the leases renewed each third of a lease).
        self.hold_limit = max(batch_size, self.limit * HELD_PER_SLOT)
        # A message is sent only while at least this much of its lease is left: once a lease runs out
        # another dispatcher may claim the row and send it too. Half the lease at most, so that a freshly
        # claimed message always qualifies even when the lease is shorter than the delivery timeout.
        self.lease_margin = min(cfg.notify_timeout_seconds, cfg.notify_lease_seconds / 2)
        # Renewed each third of a lease, so what is left never drops below two thirds (above the margin).
        self.renew_every = cfg.notify_lease_seconds / 3

    async def run(self, budget: float) -> DrainReport:
        # apprise is synchronous: give it as many threads as deliveries may be in flight (the default pool
        # has ~6), plus the database's claim and settle.
        asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(max_workers=self.cfg.notify_concurrency + 4))
        deadline = time.monotonic() + budget
        cfg = self.cfg
        async with Deliverer(
            self.resolve, cfg.notify_concurrency, cfg.notify_rate_per_minute, cfg.notify_timeout_seconds
        ) as self.deliverer:
            try:
                while True:
                    await self._round()
                    upcoming = await asyncio.to_thread(self._next_retry_at)
                    if upcoming is None:
                        return self.report
                    wait = (upcoming - utcnow()).total_seconds()
                    if time.monotonic() + max(wait, 0) > deadline:
                        return self.report
                    await asyncio.sleep(min(max(wait, 0.01), 5.0))
            finally:
                for task in self.tasks:
                    task.cancel()
                await asyncio.gather(*self.tasks, return_exceptions=True)

    async def _round(self) -> None:
        """Claim, deliver and record until a claim comes back empty and everything held is recorded."""
        exhausted = False
        while True:
            if self.failure is not None:
                raise self.failure
            if self.held and time.monotonic() >= self.renew_at:
                await self._renew()
                continue
            if not exhausted and len(self.waiting) < self.low_water and len(self.held) < self.hold_limit:
                exhausted = not await self._claim()
                continue
            if self.unsent or self.results or self.parts:
                linger = self.first_result + LINGER - time.monotonic()
                # A part is written at once (its message waits for that to send its next part); parts accepted
                # meanwhile go with the next write.
                if self.unsent or self.parts or linger <= 0 or self.unrecorded >= self.spare or not self.sending:
                    await self._record()  # deliveries go on meanwhile
                    continue
                renewal = self._until_renewal()
                await self._changes(linger if renewal is None else min(linger, renewal))
                continue
            if exhausted and not self.tasks:
                return
            await self._changes(self._until_renewal())

    def _until_renewal(self) -> float | None:
        return max(0.0, self.renew_at - time.monotonic()) if self.held else None

    async def _changes(self, timeout: float | None = None) -> None:
        """Until a delivery moves on (or `timeout` passes)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.changed.wait(), timeout)
        self.changed.clear()

    async def _claim(self) -> bool:
        started = time.monotonic()  # no later than the `now` the lease is counted from
        batch = await asyncio.to_thread(self._claim_batch)
        if not batch:
            return False
        self.report.rounds += 1
        if not self.held:
            self.renew_at = started + self.renew_every
        for message in batch:
            fresh = message.id not in self.held
            # Ours already (its lease ran out while it waited here): keep the one copy, under the new claim.
            self.held[message.id] = message
            self.lease_end[message.id] = started + self.cfg.notify_lease_seconds
            self.lost.discard(message.id)
            if fresh:
                self.waiting.add(message.id)
                task = asyncio.create_task(self._deliver(message))
                self.tasks.add(task)
                task.add_done_callback(self._finished)
        return True

    def _finished(self, task: asyncio.Task[None]) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None and self.failure is None:
            self.failure = task.exception()
        self.changed.set()

    async def _deliver(self, message: Claimed) -> None:
        outgoing = Outgoing(
            message.id, message.dedup_key, message.channel, message.subject, message.body, message.parts_sent
        )
        at_risk = 0  # requests of this message under way or sent and not yet recorded: a crash sends them again

        async def ready(needs: int) -> bool:
            """Before each request (each part of a tracked long message): room for it, and the row still ours."""
            nonlocal at_risk
            started = message.id not in self.waiting
            if not started:  # past its first turn: the main loop may claim more
                self.waiting.discard(message.id)
                self.changed.set()
            await self._reserve(needs, resumed=started)
            if message.id in self.lost:
                self.lost.discard(message.id)
                del self.held[message.id], self.lease_end[message.id]
                self._free(needs)
                return False
            if time.monotonic() + self.lease_margin > self.lease_end[message.id]:  # renewals fell behind
                self.unsent.append(message.id)
                self._free(needs)
                return False
            at_risk += needs
            return True

        async def progress(done: int) -> bool:
            """A part of a long robot message was accepted: record it with the next write (with other messages'
            parts and results), while the row is still ours; the next part waits for that."""
            nonlocal at_risk
            if message.id in self.lost:
                return False
            if not self.results and not self.parts:
                self.first_result = time.monotonic()
            recorded: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
            self.parts[message.id] = (done, recorded)
            self.changed.set()
            kept = await recorded
            if kept:  # recorded: a crash no longer sends this part again, so it leaves room for others
                at_risk -= 1
                self._free(1)
            return kept

        try:
            delivered = await self.deliverer.deliver(outgoing, ready, progress)
        finally:
            self.waiting.discard(message.id)
        # What is still at risk moves from "under way" to "not yet recorded" (or, held back, leaves both).
        if delivered is not None:
            if not self.results and not self.parts:
                self.first_result = time.monotonic()
            self.unrecorded += at_risk
            self.results.append((message.id, delivered.result, delivered.channel_kind, delivered.duration_ms, at_risk))
            self.sending -= at_risk
        else:
            self._free(at_risk)

    def _fits(self, needs: int) -> bool:
        used = self.sending + self.unrecorded
        return used == 0 or used + needs <= self.limit + self.spare

    async def _reserve(self, needs: int, resumed: bool = False) -> None:
        """Wait, first come first served, until `needs` more requests fit under way, and count them there.

        `resumed`: the next part of a message already under way, which goes before every message not yet started."""
        if not self.resumed and (resumed or not self.queue) and self._fits(needs):
            self.sending += needs
            return
        woken = asyncio.get_running_loop().create_future()
        (self.resumed if resumed else self.queue).append((needs, woken))
        try:
            await woken
        except asyncio.CancelledError:
            if woken.done() and not woken.cancelled():  # reserved just as the run was cancelled
                self._free(needs)
            raise

    def _free(self, requests: int) -> None:
        """Requests no longer under way (recorded, or not sent after all): room for the next in line."""
        self.sending -= requests
        self._wake()

    def _wake(self) -> None:
        while (line := self.resumed or self.queue) and (line[0][1].cancelled() or self._fits(line[0][0])):
            needs, woken = line.popleft()
            if not woken.cancelled():
                self.sending += needs
                woken.set_result(None)

    async def _record(self) -> None:
        """Write every result and part gathered so far, and hand back what was not sent, in one transaction."""
        results, self.results = self.results, []
        unsent, self.unsent = self.unsent, []
        parts, self.parts = self.parts, {}
        deliveries = [(self.held[i], result, kind, ms) for i, result, kind, ms, _ in results]
        progress = {i: done for i, (done, _) in parts.items()}
        settled, kept = await asyncio.to_thread(self._write, deliveries, [self.held[i] for i in unsent], progress)
        for i, (_, recorded) in parts.items():
            if not recorded.done():
                recorded.set_result(i in kept)
        for i in [r[0] for r in results] + unsent:
            del self.held[i], self.lease_end[i]
            self.lost.discard(i)
        self.unrecorded -= sum(r[4] for r in results)
        self.report.add(settled)
        self._wake()

    async def _renew(self) -> None:
        started = time.monotonic()
        ids = list(self.held)
        kept = await asyncio.to_thread(self._renew_leases, ids)
        for i in ids:
            if i in kept:
                self.lease_end[i] = started + self.cfg.notify_lease_seconds
            elif i in self.held:
                self.lost.add(i)
        self.renew_at = started + self.renew_every

    def _renew_leases(self, ids: list[int]) -> set[int]:
        return self._transaction(
            lambda session: renew(session, self.worker, ids, utcnow(), self.cfg.notify_lease_seconds)
        )

    def _claim_batch(self) -> list[Claimed]:
        room = max(1, min(self.batch_size, self.hold_limit - len(self.held)))
        with session_scope(self.url) as session:
            return claim(session, self.worker, room, utcnow(), self.cfg.notify_lease_seconds, self.channels)

    def _next_retry_at(self) -> dt.datetime | None:
        with session_scope(self.url) as session:
            return next_retry_at(session, self.channels)

    def _write(
        self,
        deliveries: list[tuple[Claimed, DeliveryResult, str, int]],
        unsent: list[Claimed],
        progress: dict[int, int],
    ) -> tuple[list[Settled], set[int]]:
        cfg = self.cfg

        def write(session: Session) -> tuple[list[Settled], set[int]]:
            release(session, self.worker, unsent)
            kept = record_parts_of(session, self.worker, progress)
            settled = settle(
                session,
                self.worker,
                deliveries,
                utcnow(),
                cfg.notify_max_attempts,
                cfg.notify_backoff_seconds,
                cfg.notify_backoff_max_seconds,
            )
            return settled, kept

        return self._transaction(write)

    def _transaction(self, work: Callable[[Session], T]) -> T:
        # What is being recorded has already gone out (or is going out): if the database connection drops,
        # write it on a fresh one rather than die and let the leases run out, which would send it all again.
        tries = 1
        while True:
            try:
                with session_scope(self.url) as session:
                    return work(session)
            except DBAPIError as exc:
                if not exc.connection_invalidated or tries >= SETTLE_TRIES:
                    raise
                time.sleep(0.2 * tries)
                tries += 1
