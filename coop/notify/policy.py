"""When an occurrence deserves a message. Pure: dates in, notices with stable dedup keys out.

Each occurrence has a timeline of milestones: one reminder per `before_workdays` entry, the
due day, then escalation rounds every `escalate_every_workdays` once it is
`escalate_after_workdays` overdue. A run reports the *latest* milestone reached, so a run
that was missed is caught up once (the outbox drops the repeat by `dedup_key`) and a
reminder overtaken by a later milestone is never sent stale.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, field_validator

OPEN_STATUSES = frozenset({"planned", "due", "overdue"})
CLOSED_STATUSES = frozenset({"done", "waived", "cancelled"})
PlanKind = Literal["planned", "changed", "cancelled"]
MAX_WORKDAYS = 250


class WorkdayArithmetic(Protocol):
    """What the policy needs from `coop.calendar.WorkdayCalendar` (same conventions)."""

    def add_workdays(self, d: date, n: int) -> date:
        """n-th working day after (n > 0) / before (n < 0) d, never counting d itself."""
        ...

    def workdays_between(self, a: date, b: date) -> int:
        """Working days in (a, b]; negative when b < a."""
        ...


class ReminderPolicy(BaseModel):
    """How insistently to remind; one per deployment or per agreement."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # Bounded to about a year of working days: an absurd value in one agreement must fail when the file is
    # loaded, not later inside the daily notice run that serves every agreement.
    before_workdays: list[int] = Field(
        default_factory=lambda: [7, 1], max_length=10, description="reminders N working days before due (1–250)"
    )
    on_due_day: bool = True
    escalate_after_workdays: int = Field(default=3, ge=1, le=MAX_WORKDAYS)
    escalate_every_workdays: int = Field(default=5, ge=1, le=MAX_WORKDAYS)
    notify_on_plan: bool = True

    @field_validator("before_workdays")
    @classmethod
    def _positive_unique(cls, value: list[int]) -> list[int]:
        if any(n < 1 for n in value):
            raise ValueError("before_workdays entries must be at least 1 (the due day itself is on_due_day)")
        if any(n > MAX_WORKDAYS for n in value):
            raise ValueError(f"before_workdays entries must be at most {MAX_WORKDAYS} (about a year of working days)")
        return sorted(set(value), reverse=True)


@dataclass(frozen=True)
class Notice:
    """One message an occurrence owes. Kinds: planned/changed/cancelled, reminder_t<n>, due_today, escalation."""

    kind: str
    dedup_key: str
    occurrence_id: int
    due_date: date
    fire_on: date
    """The day this notice was meant for; earlier than today when a missed run is caught up."""
    days_overdue: int = 0
    workdays_left: int | None = None
    escalation_round: int | None = None


@dataclass(frozen=True)
class _Milestone:
    fire_on: date
    kind: str
    escalation_round: int | None = None


def reminder_key(occurrence_id: int, kind: str, due: date, escalation_round: int | None = None) -> str:
    """Stable across reruns; the due date is part of it so a moved deadline reminds afresh."""
    key = f"{occurrence_id}:{kind}:{due.isoformat()}"
    return key if escalation_round is None else f"{key}:{escalation_round}"


def _timeline(due: date, today: date, calendar: WorkdayArithmetic, policy: ReminderPolicy) -> list[_Milestone]:
    """Milestones reached by `today`, oldest first; only the current escalation round is listed."""
    reached = [_Milestone(calendar.add_workdays(due, -n), f"reminder_t{n}") for n in policy.before_workdays]
    if policy.on_due_day:
        reached.append(_Milestone(due, "due_today"))
    overdue = calendar.workdays_between(due, today) if today > due else 0
    if overdue >= policy.escalate_after_workdays:
        rnd = (overdue - policy.escalate_after_workdays) // policy.escalate_every_workdays
        offset = policy.escalate_after_workdays + rnd * policy.escalate_every_workdays
        reached.append(_Milestone(calendar.add_workdays(due, offset), "escalation", rnd))
    return sorted((m for m in reached if m.fire_on <= today), key=lambda m: m.fire_on)


def notices_for(
    occurrence_id: int,
    occurrence_due: date,
    status: str,
    today: date,
    calendar: WorkdayArithmetic,
    policy: ReminderPolicy,
    *,
    created_on: date | None = None,
) -> list[Notice]:
    """The date-driven notice an open occurrence owes today (zero or one).

    `created_on` drops milestones from before the occurrence existed; its `planned` notice
    covers those.
    """
    if status not in OPEN_STATUSES:
        if status in CLOSED_STATUSES:
            return []
        raise ValueError(
            f"unknown occurrence status {status!r} (expected one of {sorted(OPEN_STATUSES | CLOSED_STATUSES)})"
        )
    reached = [
        m for m in _timeline(occurrence_due, today, calendar, policy) if created_on is None or m.fire_on >= created_on
    ]
    if not reached:
        return []
    latest = reached[-1]
    overdue = max(0, calendar.workdays_between(occurrence_due, today))
    left = max(0, calendar.workdays_between(today, occurrence_due))
    return [
        Notice(
            kind=latest.kind,
            dedup_key=reminder_key(occurrence_id, latest.kind, occurrence_due, latest.escalation_round),
            occurrence_id=occurrence_id,
            due_date=occurrence_due,
            fire_on=latest.fire_on,
            days_overdue=overdue,
            workdays_left=left,
            escalation_round=latest.escalation_round,
        )
    ]


def plan_notice(
    occurrence_id: int, kind: PlanKind, due: date, today: date, policy: ReminderPolicy, *, version: int
) -> Notice | None:
    """The notice for a plan change, keyed by agreement version so each re-plan tells once."""
    if not policy.notify_on_plan:
        return None
    return Notice(
        kind=kind,
        dedup_key=f"{reminder_key(occurrence_id, kind, due)}:v{version}",
        occurrence_id=occurrence_id,
        due_date=due,
        fire_on=today,
    )
