"""When an occurrence deserves a message. Pure: dates in, notices with stable dedup keys out.

Each occurrence has a timeline of milestones: one reminder per `before_workdays` entry, the
due day, then escalation rounds every `escalate_every_workdays` once it is
`escalate_after_workdays` overdue. A run reports the *latest* milestone reached, so a run
that was missed is caught up once (the outbox drops the repeat by `dedup_key`) and a
reminder overtaken by a later milestone is never sent stale.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Literal, Protocol

from coop.agreement.reminders import ReminderPolicy
from coop.agreement.schema import Agreement
from models.tables import OPEN_STATUSES, OccurrenceStatus

PlanKind = Literal["planned", "changed", "cancelled"]
_KNOWN_STATUSES = frozenset(s.value for s in OccurrenceStatus)


class WorkdayArithmetic(Protocol):
    """What the policy needs from `coop.calendar.WorkdayCalendar` (same conventions)."""

    def add_workdays(self, d: date, n: int) -> date:
        """n-th working day after (n > 0) / before (n < 0) d, never counting d itself."""
        ...

    def workdays_between(self, a: date, b: date) -> int:
        """Working days in (a, b]; negative when b < a."""
        ...


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
        # Closed, suspended (the clock stopped) and untracked (history before tracking_from) owe nothing.
        if status in _KNOWN_STATUSES:
            return []
        raise ValueError(f"unknown occurrence status {status!r} (expected one of {sorted(_KNOWN_STATUSES)})")
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


def clause_policies(agreement: Agreement, default: ReminderPolicy | None = None) -> dict[str, ReminderPolicy]:
    """Field by field, what a clause writes overrides the agreement's rules, which override the default."""
    base = _overlay(default or ReminderPolicy(), agreement.reminders)
    return {c.id: _overlay(base, c.reminders) for p in agreement.programmes for c in p.clauses}


def _overlay(base: ReminderPolicy, written: ReminderPolicy | None) -> ReminderPolicy:
    if written is None:
        return base
    return base.model_copy(update={k: getattr(written, k) for k in written.model_fields_set})


def escalation_recipients(
    department_id: int, party: str | None, lead: str | None, coordinators: dict[str, int]
) -> list[tuple[int, str]]:
    """Who hears of an escalation besides the department itself, as (department, role).

    Within the responsible department's own party: its leader, then its party's coordinator. Where the clause
    has a `lead` party other than its own, that party's coordinator gets a summary (role `lead`: counts per
    agreement, never the other party's task list). No `lead` (every `each_party` clause) means no summary.
    `coordinators`: party short name → its coordinator department, within the occurrence's agreement.
    """
    out = [(department_id, "leader")]
    own = coordinators.get(party) if party is not None else None
    if own is not None and own != department_id:
        out.append((own, "coordinator"))
    chief = coordinators.get(lead) if lead is not None and lead != party else None
    if chief is not None and chief not in (own, department_id):
        out.append((chief, "lead"))
    return out


def notice_row(n: Notice, department_id: int, role: str) -> dict[str, object]:
    """The `notice` table row telling one recipient; copies for leader/coordinator get their own key."""
    key = n.dedup_key if role == "department" else f"{n.dedup_key}:{role}"
    return {
        "dedup_key": key,
        "occurrence_id": n.occurrence_id,
        "department_id": department_id,
        "recipient_role": role,
        "kind": n.kind,
        "days_overdue": n.days_overdue,
        "workdays_left": n.workdays_left,
        "escalation_round": n.escalation_round,
        "batched": False,
    }


def plan_notice_rows(
    upcoming: Iterable[tuple[int, int, date, str]],
    updated_ids: set[int],
    cancelled: Iterable[tuple[int, date, int, str]],
    today: date,
    policies: dict[str, ReminderPolicy],
    *,
    version: int,
) -> list[dict[str, object]]:
    """Rows telling departments about a plan change.

    `upcoming`: (occurrence, department, due, clause code) open and due within the horizon;
    `cancelled`: (occurrence, due, department, clause code) cancelled by this plan.
    """
    default = ReminderPolicy()
    rows = []
    for oid, dept, due, code in upcoming:
        kind: PlanKind = "changed" if oid in updated_ids else "planned"
        notice = plan_notice(oid, kind, due, today, policies.get(code, default), version=version)
        if notice:
            rows.append(notice_row(notice, dept, "department"))
    for oid, due, dept, code in cancelled:
        if due < today:
            continue
        notice = plan_notice(oid, "cancelled", due, today, policies.get(code, default), version=version)
        if notice:
            rows.append(notice_row(notice, dept, "department"))
    return rows
