"""Reminder policy: exact-day reminders, one catch-up after missed runs, escalation rounds, stable keys."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from coop.notify.policy import Notice, ReminderPolicy, notices_for, plan_notice


class WeekdayCalendar:
    """Mon–Fri are working days; same conventions as coop.calendar.WorkdayCalendar."""

    def is_workday(self, d: date) -> bool:
        return d.weekday() < 5

    def add_workdays(self, d: date, n: int) -> date:
        step = 1 if n > 0 else -1
        while n:
            d += timedelta(days=step)
            if self.is_workday(d):
                n -= step
        return d

    def workdays_between(self, a: date, b: date) -> int:
        if b < a:
            return -self.workdays_between(b, a)
        return sum(self.is_workday(a + timedelta(days=i)) for i in range(1, (b - a).days + 1))


CAL = WeekdayCalendar()
DEFAULT = ReminderPolicy()
DUE = date(2025, 3, 21)  # Friday


def run(
    day: date, status: str = "planned", policy: ReminderPolicy = DEFAULT, due: date = DUE, **kw: object
) -> list[Notice]:
    return notices_for(7, due, status, day, CAL, policy, **kw)  # type: ignore[arg-type]


def daily(start: date, end: date, **kw: object) -> dict[date, list[Notice]]:
    return {start + timedelta(i): run(start + timedelta(i), **kw) for i in range((end - start).days + 1)}


def test_fake_calendar_matches_real_conventions() -> None:
    assert CAL.add_workdays(date(2025, 3, 22), 1) == date(2025, 3, 24)  # Saturday → Monday
    assert CAL.add_workdays(DUE, -7) == date(2025, 3, 12)
    assert CAL.workdays_between(DUE, CAL.add_workdays(DUE, 8)) == 8


def test_reminders_fire_on_their_exact_working_days() -> None:
    first_days: dict[str, date] = {}
    for day, notices in daily(date(2025, 3, 1), date(2025, 4, 30)).items():
        for n in notices:
            first_days.setdefault(n.dedup_key, day)

    assert first_days == {
        "7:reminder_t7:2025-03-21": date(2025, 3, 12),
        "7:reminder_t1:2025-03-21": date(2025, 3, 20),
        "7:due_today:2025-03-21": date(2025, 3, 21),
        "7:escalation:2025-03-21:0": date(2025, 3, 26),  # 3 working days overdue
        "7:escalation:2025-03-21:1": date(2025, 4, 2),  # then every 5
        "7:escalation:2025-03-21:2": date(2025, 4, 9),
        "7:escalation:2025-03-21:3": date(2025, 4, 16),
        "7:escalation:2025-03-21:4": date(2025, 4, 23),
        "7:escalation:2025-03-21:5": date(2025, 4, 30),
    }


def test_nothing_before_the_first_reminder() -> None:
    assert run(date(2025, 3, 11)) == []


def test_missed_run_sends_the_most_recent_reminder_once() -> None:
    [late] = run(date(2025, 3, 14))  # runs on 12th and 13th were missed

    assert late.kind == "reminder_t7" and late.fire_on == date(2025, 3, 12)
    assert late.workdays_left == 5
    # The next run reports it again under the same key; the outbox drops the repeat.
    assert run(date(2025, 3, 17))[0].dedup_key == late.dedup_key


def test_a_reminder_overtaken_by_a_later_one_is_not_sent_stale() -> None:
    [notice] = run(date(2025, 3, 20))  # nothing ran since before the 7-day reminder
    assert notice.kind == "reminder_t1"


def test_escalation_carries_round_and_overdue_days() -> None:
    [notice] = run(date(2025, 4, 3))

    assert notice.kind == "escalation" and notice.escalation_round == 1
    assert notice.days_overdue == 9 and notice.workdays_left == 0
    assert notice.dedup_key == "7:escalation:2025-03-21:1"


@pytest.mark.parametrize("status", ["done", "waived", "cancelled", "suspended", "untracked"])
def test_closed_suspended_and_untracked_occurrences_are_silent(status: str) -> None:
    assert run(date(2025, 3, 26), status=status) == []


def test_unknown_status_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown occurrence status"):
        run(date(2025, 3, 26), status="finished")


def test_moved_deadline_gets_fresh_keys() -> None:
    before = run(date(2025, 3, 20))[0].dedup_key
    after = run(date(2025, 3, 20), due=date(2025, 3, 28))[0].dedup_key
    assert before != after and after == "7:reminder_t7:2025-03-28"


def test_milestones_before_creation_are_left_to_the_planned_notice() -> None:
    assert run(date(2025, 3, 17), created_on=date(2025, 3, 17)) == []
    assert run(date(2025, 3, 20), created_on=date(2025, 3, 17))[0].kind == "reminder_t1"


def test_policy_switches() -> None:
    quiet = ReminderPolicy(before_workdays=[], on_due_day=False)
    assert run(date(2025, 3, 21), policy=quiet) == []
    assert run(date(2025, 3, 26), policy=quiet)[0].kind == "escalation"
    assert ReminderPolicy(before_workdays=[1, 7, 7]).before_workdays == [7, 1]
    with pytest.raises(ValidationError):
        ReminderPolicy(before_workdays=[0])
    with pytest.raises(ValidationError):
        ReminderPolicy(escalate_every_workdays=0)


def test_plan_notices_are_keyed_by_version_and_can_be_turned_off() -> None:
    notice = plan_notice(7, "changed", DUE, date(2025, 3, 1), DEFAULT, version=3)
    assert notice is not None and notice.dedup_key == "7:changed:2025-03-21:v3"
    assert plan_notice(7, "planned", DUE, date(2025, 3, 1), ReminderPolicy(notify_on_plan=False), version=1) is None


def test_real_calendar_national_day() -> None:
    calendar_module = pytest.importorskip("coop.calendar")
    cal = calendar_module.WorkdayCalendar()
    due = date(2025, 10, 9)  # first working day after the 2025 National Day / Mid-Autumn break

    [notice] = notices_for(1, due, "planned", date(2025, 9, 30), cal, DEFAULT)

    assert notice.kind == "reminder_t1" and notice.fire_on == date(2025, 9, 30)


# -- properties ---------------------------------------------------------------------------

policies = st.builds(
    ReminderPolicy,
    before_workdays=st.lists(st.integers(1, 15), max_size=4),
    on_due_day=st.booleans(),
    escalate_after_workdays=st.integers(1, 10),
    escalate_every_workdays=st.integers(1, 10),
)
dues = st.dates(date(2024, 1, 1), date(2026, 12, 31))
HORIZON_BEFORE, HORIZON_AFTER = 40, 70  # 40 days covers 15 working days before due


def milestones(due: date, policy: ReminderPolicy, until: date) -> dict[str, date]:
    """Every key the policy should ever produce up to `until`, with its fire day (independent oracle)."""
    found = {f"7:reminder_t{n}:{due}": CAL.add_workdays(due, -n) for n in policy.before_workdays}
    if policy.on_due_day:
        found[f"7:due_today:{due}"] = due
    k = 0
    while (fire := CAL.add_workdays(due, policy.escalate_after_workdays + k * policy.escalate_every_workdays)) <= until:
        found[f"7:escalation:{due}:{k}"] = fire
        k += 1
    return {key: fire for key, fire in found.items() if fire <= until}


@settings(max_examples=60, deadline=None)
@given(due=dues, policy=policies)
def test_daily_runs_produce_every_key_on_its_day(due: date, policy: ReminderPolicy) -> None:
    start, end = due - timedelta(HORIZON_BEFORE), due + timedelta(HORIZON_AFTER)
    first: dict[str, date] = {}
    for day in (start + timedelta(i) for i in range((end - start).days + 1)):
        notices = run(day, policy=policy, due=due)
        assert len(notices) <= 1
        for n in notices:
            assert n.fire_on <= day
            first.setdefault(n.dedup_key, day)

    assert first == milestones(due, policy, end)


@settings(max_examples=80, deadline=None)
@given(
    due=dues,
    policy=policies,
    offsets=st.sets(st.integers(-HORIZON_BEFORE, HORIZON_AFTER), min_size=1, max_size=40),
)
def test_missed_runs_catch_up_without_inventing_or_repeating_unboundedly(
    due: date, policy: ReminderPolicy, offsets: set[int]
) -> None:
    days = sorted(due + timedelta(o) for o in offsets)
    emitted = {day: run(day, policy=policy, due=due) for day in days}
    expected = milestones(due, policy, days[-1])
    keys = {n.dedup_key for ns in emitted.values() for n in ns}

    # Nothing invented, and the number of distinct messages is bounded by the policy.
    assert keys <= set(expected)
    span = CAL.workdays_between(due, days[-1])
    bound = len(policy.before_workdays) + 1 + max(0, span) // policy.escalate_every_workdays + 1
    assert len(keys) <= bound
    # Every milestone is sent, or overtaken by a later one, at the first run on or after its day.
    for key, fire in expected.items():
        first_run = next((d for d in days if d >= fire), None)
        if first_run is None:
            continue
        [sent] = emitted[first_run]
        # the one sent is this milestone, or a later milestone that was also due by that run
        assert sent.dedup_key == key or (sent.dedup_key in expected and fire < sent.fire_on <= first_run)
    # Reruns of the same day are identical, so the outbox's dedup key makes them no-ops.
    assert all(run(day, policy=policy, due=due) == emitted[day] for day in days)


@settings(max_examples=40, deadline=None)
@given(due=dues, policy=policies, day_offset=st.integers(-HORIZON_BEFORE, HORIZON_AFTER))
def test_the_latest_milestone_is_always_reported(due: date, policy: ReminderPolicy, day_offset: int) -> None:
    day = due + timedelta(day_offset)
    reached = milestones(due, policy, day)
    notices = run(day, policy=policy, due=due)

    if not reached:
        assert notices == []
    else:
        [notice] = notices
        assert notice.fire_on == max(reached.values())
