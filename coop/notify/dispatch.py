"""Deliver a batch of messages concurrently: bounded in flight, spaced per channel, never raising."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass

import httpx

from coop.errors import CoopError
from coop.notify.channels import Channel, redact
from coop.notify.robots import DeliveryResult, adeliver


@dataclass(frozen=True)
class Outgoing:
    """What the sender needs; `key` identifies the message so sinks can drop repeats."""

    id: int
    key: str
    channel: str
    subject: str
    body: str


@dataclass(frozen=True)
class Delivered:
    id: int
    result: DeliveryResult
    channel_kind: str
    duration_ms: int


class ChannelPacer:
    """Spaces messages to one channel by 60/rate seconds; robots ban senders above ~20 messages a minute."""

    def __init__(self, per_minute: dict[str, int]):
        self._per_minute = per_minute
        self._next: dict[str, float] = {}
        self._lock = asyncio.Lock()

    async def wait(self, channel: str, kind: str) -> None:
        rate = self._per_minute.get(kind, 0)
        if rate <= 0:
            return
        async with self._lock:
            now = time.monotonic()
            start = max(now, self._next.get(channel, now))
            self._next[channel] = start + 60.0 / rate
        if start > now:
            await asyncio.sleep(start - now)


async def deliver_each(
    messages: Sequence[Outgoing],
    resolve: Callable[[str], Channel],
    concurrency: int,
    per_minute: dict[str, int],
    timeout: float = 10.0,
) -> AsyncIterator[Delivered]:
    """Results as they complete, so the caller can record each promptly; an unconfigured channel is a non-retryable failure."""
    gate = asyncio.Semaphore(concurrency)
    pacer = ChannelPacer(per_minute)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=timeout) as client:

        async def one(message: Outgoing) -> Delivered:
            try:
                channel = resolve(message.channel)
            except CoopError as exc:
                return Delivered(message.id, DeliveryResult(False, False, None, redact(str(exc))), "unknown", 0)
            await pacer.wait(message.channel, channel.kind)
            async with gate:
                started = time.perf_counter()
                try:
                    result = await adeliver(channel.url, message.subject, message.body, timeout, client=client, key=message.key)
                except Exception as exc:  # a bug in one plugin must not lose the whole batch's results
                    result = DeliveryResult(False, True, None, redact(f"{type(exc).__name__}: {exc}"))
                return Delivered(message.id, result, channel.kind, int((time.perf_counter() - started) * 1000))

        for done in asyncio.as_completed([one(m) for m in messages]):
            yield await done
