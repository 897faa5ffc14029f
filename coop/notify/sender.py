"""The concurrent sender: many messages at once, bounded in flight, paced per destination, never raising.

Only sends; which messages, and recording what happened, is `coop.services.delivery` (the outbox drain).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from types import TracebackType

import httpx

from coop.errors import CoopError
from coop.notify.channels import Channel, adeliver, redact, request_count
from coop.notify.results import DeliveryResult

# httpcore's pool scans every connection for every other one each time a request comes or goes (quadratic):
# past ~16 connections in one client that costs more CPU than the requests themselves, and throughput
# collapses (64 connections to one 50 ms endpoint: ~125/s instead of ~1,200/s). Several small clients don't.
# One connection each (issue 16): every request polled each idle connection of its client (`poll` and
# `getpeername` per connection, profiled); with one, only its own: the dispatch bench's run takes ~13 % less CPU.
CONNECTIONS_PER_CLIENT = 1

WINDOW_SECONDS = 60.0
"""The window a destination's rate counts in (`notify_rate_per_minute`: a minute); read when a pacer is made."""


@dataclass(frozen=True)
class Outgoing:
    """What the sender needs; `key` identifies the message so sinks can drop repeats."""

    id: int
    key: str
    channel: str
    subject: str
    body: str
    parts_sent: int = 0
    """Parts of a long robot message accepted by earlier attempts (recorded in the outbox): not sent again."""


@dataclass(frozen=True)
class Delivered:
    id: int
    result: DeliveryResult
    channel_kind: str
    duration_ms: int


class ChannelPacer:
    """Keeps each destination within its rate as the robots state it (WeCom: "每个机器人发送的消息不能超过20条/分钟",
    DingTalk likewise): a request goes only while fewer than `rate` requests went to that destination in the last
    `window` seconds (a sliding minute), so a burst of up to `rate` goes at once and the next waits for the oldest
    to leave the window. Robots ban senders above their rate.

    Counted per request, not per message: each numbered part of a long robot message is a message to the robot.
    """

    def __init__(self, per_minute: dict[str, int], window: float | None = None):
        self._per_minute = per_minute
        self._window = WINDOW_SECONDS if window is None else window
        self._sent: dict[str, deque[float]] = {}  # destination → time.monotonic() of its latest requests (≤ rate)
        self._lines: dict[str, asyncio.Lock] = {}  # destination → its line, while anyone is in it
        self._queued: dict[str, int] = {}

    def line(self, destination: str, kind: str) -> Place:
        """A message's place at its destination, first come first served: its parts go out one after another,
        never interleaved with another message's. Waiting in line holds nothing else (no slot)."""
        return Place(self, destination, self._per_minute.get(kind, 0))


class Place:
    """`async with pacer.line(destination, kind) as turns`: in the destination's line from enter to exit.

    A class rather than a generator-based context manager: the line's bookkeeping is then plain methods, which the
    mutation tests (tests/mutation.py) can mutate."""

    def __init__(self, pacer: ChannelPacer, destination: str, rate: int) -> None:
        self._pacer = pacer
        self._destination = destination
        self._rate = rate
        self._lock: asyncio.Lock | None = None

    async def __aenter__(self) -> Turns:
        pacer, destination = self._pacer, self._destination
        if self._rate <= 0:
            return Turns(deque(), 0, pacer._window)
        pacer._queued[destination] = pacer._queued.get(destination, 0) + 1
        self._lock = pacer._lines.setdefault(destination, asyncio.Lock())
        try:
            await self._lock.acquire()
        except BaseException:
            self._leave()
            raise
        return Turns(pacer._sent.setdefault(destination, deque()), self._rate, pacer._window)

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._lock is None:
            return
        self._lock.release()
        self._leave()

    def _leave(self) -> None:
        pacer, destination = self._pacer, self._destination
        pacer._queued[destination] -= 1
        if not pacer._queued[destination]:  # nobody in line: forget it, and its requests once all left the window
            del pacer._queued[destination], pacer._lines[destination]
            sent = pacer._sent.get(destination)
            if not sent or sent[-1] + pacer._window <= time.monotonic():
                pacer._sent.pop(destination, None)


@dataclass(frozen=True)
class Turns:
    """The turns of the message first in its destination's line."""

    sent: deque[float]
    """When the destination's latest requests went (time.monotonic(), oldest first, at most `rate` of them)."""
    rate: int
    """Requests the destination takes per window (0: not paced)."""
    window: float

    async def come(self) -> None:
        """Until fewer than `rate` requests went to the destination in the last window."""
        if self.rate and len(self.sent) >= self.rate:
            delay = self.sent[-self.rate] + self.window - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)

    def take(self) -> None:
        """Called right before a request goes out (a slot in hand), so the window counts the requests as sent
        however long the message waited for its slot."""
        if self.rate:
            self.sent.append(time.monotonic())
            if len(self.sent) > self.rate:
                self.sent.popleft()

    def done(self) -> None:
        """Called once the request taken last was answered: the robot got it by then, so the window counts from
        there (counted from `take`, a request slower to arrive than the one a window before it would put one too
        many in the robot's window as it sees them)."""
        if self.rate:
            self.sent[-1] = time.monotonic()


class Deliverer:
    """Sends messages for one dispatch run; use as `async with`, inside one event loop.

    Lives as long as the run, so connections are reused from message to message, each channel is looked
    up once (a Prefect Secret block is an HTTP call), per-destination pacing holds across claimed batches,
    and a long message refused part-way resumes at its first unsent part when retried in the same run (across
    runs and dispatchers, `Outgoing.parts_sent` says where to resume). `per_minute[kind]` requests go to one
    destination in any `window` seconds (default `WINDOW_SECONDS`, a minute).
    """

    def __init__(
        self,
        resolve: Callable[[str], Channel],
        concurrency: int,
        per_minute: dict[str, int],
        timeout: float = 10.0,
        window: float | None = None,
    ) -> None:
        self._resolve = resolve
        self._timeout = timeout
        self._pacer = ChannelPacer(per_minute, window)
        self._channels: dict[str, Channel | CoopError] = {}
        self._progress: dict[str, int] = {}  # message key → parts the robot already accepted
        count = math.ceil(concurrency / CONNECTIONS_PER_CLIENT)
        self._clients: list[httpx.AsyncClient] = []
        tls = httpx.create_ssl_context()  # httpx's default, loaded once rather than once per client (~20 ms each)
        # One slot per delivery allowed in flight, each tied to a client; a client never gets more
        # requests at once than it has connections, so no request waits inside httpx's pool.
        self._slots: asyncio.Queue[httpx.AsyncClient] = asyncio.Queue()
        for i in range(count):
            size = min(CONNECTIONS_PER_CLIENT, concurrency - i * CONNECTIONS_PER_CLIENT)
            client = httpx.AsyncClient(
                limits=httpx.Limits(max_connections=size, max_keepalive_connections=size), timeout=timeout, verify=tls
            )
            self._clients.append(client)
            for _ in range(size):
                self._slots.put_nowait(client)

    async def __aenter__(self) -> Deliverer:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await asyncio.gather(*(c.aclose() for c in self._clients), return_exceptions=True)

    def channel(self, name: str) -> Channel:
        """`resolve(name)`, once per run; a failure is remembered too."""
        found = self._channels.get(name)
        if found is None:
            try:
                found = self._resolve(name)
            except CoopError as exc:
                found = exc
            self._channels[name] = found
        if isinstance(found, CoopError):
            raise found
        return found

    async def deliver(
        self,
        message: Outgoing,
        ready: Callable[[int], Awaitable[bool]] | None = None,
        progress: Callable[[int], Awaitable[bool]] | None = None,
    ) -> Delivered | None:
        """Send one message, each request once its destination's pacing turn has come and a slot is free.

        `ready(requests)` is awaited before a request takes its slot (its pacing turn come, no slot held) and
        may hold it back or veto it (then None: the message stops there; parts already accepted are remembered
        for a retry). A multi-part robot message tracked by `progress` asks before each part (`requests` 1) and
        holds no slot while it waits for its next turn; any other message asks once, for all its requests.
        `progress(done)` is awaited after each part of a multi-part robot message is accepted, `done` counting
        earlier attempts' parts too; answering False stops the message there (it is no longer ours to send)."""
        try:
            channel = self.channel(message.channel)
        except CoopError as exc:
            return Delivered(message.id, DeliveryResult(False, False, None, redact(str(exc))), "unknown", 0)
        # Paced by destination URL: two channel names for one robot share its rate.
        destination = channel.url
        start = max(message.parts_sent, self._progress.get(message.key, 0))
        needs = request_count(channel.url, message.subject, message.body, start)
        # Single messages are not tracked part by part: their outcome is recorded once, when settled.
        tracked = progress if progress is not None and start + needs > 1 else None
        asked = vetoed = False
        started: float | None = None

        async with self._pacer.line(destination, channel.kind) as turns:

            @contextlib.asynccontextmanager
            async def turn() -> AsyncIterator[httpx.AsyncClient | None]:
                """One request: its pacing turn (holding nothing), then `ready`, then a slot just for the send."""
                nonlocal asked, vetoed, started
                await turns.come()
                if ready is not None and (tracked is not None or not asked):
                    asked = True
                    vetoed = not await ready(1 if tracked is not None else needs)
                if vetoed:
                    yield None
                    return
                client = await self._slots.get()
                turns.take()
                started = time.perf_counter() if started is None else started
                try:
                    yield client
                finally:
                    turns.done()
                    self._slots.put_nowait(client)

            try:
                result = await adeliver(
                    channel.url,
                    message.subject,
                    message.body,
                    self._timeout,
                    key=message.key,
                    start=start,
                    turn=turn,
                    accepted=tracked,
                )
            except Exception as exc:  # a bug in one plugin must not lose the whole batch's results
                result = DeliveryResult(False, True, None, redact(f"{type(exc).__name__}: {exc}"))
        if result.ok:
            self._progress.pop(message.key, None)
        elif result.parts:
            self._progress[message.key] = start + result.parts
        if vetoed:
            return None
        result = replace(result, detail=result.detail + parts_note(result))
        elapsed = 0 if started is None else int((time.perf_counter() - started) * 1000)
        return Delivered(message.id, result, channel.kind, elapsed)


def parts_note(result: DeliveryResult) -> str:
    """Which parts of a multi-part robot message this attempt got accepted, for the attempt's record.

    E.g. `（本次送达第 21–45 段，共 45 段，已全部送达；parts 21-45/45）`.
    """
    total, first, parts = result.total_parts, result.first_part, result.parts
    if total <= 1:
        return ""
    done = first + parts
    if parts:
        sent = f"本次送达第 {first + 1}–{done} 段" if parts > 1 else f"本次送达第 {done} 段"
        english = f"parts {first + 1}-{done}/{total}"
    else:
        sent, english = "本次未送达新的分段", f"parts 0/{total} this attempt"
    if done >= total:
        return f"（{sent}，共 {total} 段，已全部送达；{english}）"
    return f"（{sent}，已送达前 {done} 段，共 {total} 段，下次从第 {done + 1} 段续发；{english}）"
