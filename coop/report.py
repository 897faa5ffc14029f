"""What a department reports for one occurrence, before the store validates and writes it. Pure."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Outcome = Literal["done", "partial", "cannot"]


@dataclass(frozen=True)
class CompletionReport:
    """What a department says it did; validated before anything is written."""

    occurrence_id: int
    department: str  # "party/department" as written in the agreement, or the numeric department id
    outcome: Outcome = "done"
    participants: int | None = None
    metrics: dict[str, int] = field(default_factory=dict)
    evidence: list[str] = field(default_factory=list)
    note: str | None = None
