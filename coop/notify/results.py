"""What notification work produced: one delivery, one queueing run, one outbox drain.

Plain values, so the store, the services and the artifact renderers can all share them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class DeliveryResult:
    """Outcome of one delivery; `retryable` tells the outbox whether trying again can help."""

    ok: bool
    retryable: bool
    status: int | None
    detail: str
    retry_after: float | None = None
    parts: int = 0
    """Parts of a long robot message the robot accepted in this attempt (a retry resumes after them)."""
    first_part: int = 0
    """0-based index of the first part this attempt posted (the parts before it were accepted earlier)."""
    total_parts: int = 0
    """How many parts the whole robot message has (0: not a robot message)."""


@dataclass
class BatchResult:
    """What one queueing run wrote: notices batched, outbox messages, recipients nobody can reach."""

    notices: int = 0
    messages: int = 0
    recipients_without_channel: list[str] = field(default_factory=list)


class _Message(Protocol):
    @property
    def id(self) -> int: ...
    @property
    def channel(self) -> str: ...
    @property
    def department_id(self) -> int: ...


class SettledDelivery(Protocol):
    """What a recorded delivery exposes (`coop.store.outbox.Settled` has this shape)."""

    @property
    def message(self) -> _Message: ...
    @property
    def result(self) -> DeliveryResult: ...
    @property
    def outcome(self) -> str: ...


@dataclass
class DrainReport:
    """Counts per (channel, recipient department id, outcome) — what a coordinator sees in the artifact."""

    counts: Counter[tuple[str, int, str]] = field(default_factory=Counter)
    dead: list[tuple[int, str, str]] = field(default_factory=list)  # (outbox id, channel, error)
    rounds: int = 0  # claims that returned messages

    def add(self, settled: Iterable[SettledDelivery]) -> None:
        for s in settled:
            self.counts[(s.message.channel, s.message.department_id, s.outcome)] += 1
            if s.outcome == "dead":
                self.dead.append((s.message.id, s.message.channel, s.result.detail))

    def total(self, outcome: str) -> int:
        return sum(n for (_, _, o), n in self.counts.items() if o == outcome)
