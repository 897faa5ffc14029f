"""Every due decision is made on the Asia/Shanghai calendar day, whatever the server's time zone or clock.

Runs a minute before and after Shanghai midnight, in a process whose TZ is America/New_York across its
daylight-saving switch, and with a clock that jumps back a day or skips days: every milestone of every
occurrence is told once (never twice, never a stale one after a newer one) and no day's is skipped.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from zoneinfo import ZoneInfo

import pytest
from conftest import FIXTURES, ROOT
from peers.robot_sink import RobotSink
from reliability.scenario import CAL, child_env, outbox_status, plan
from sqlalchemy import select

from coop.agreement.loader import load_agreement
from coop.clock import today_in_shanghai
from coop.notify.policy import ReminderPolicy, notices_for
from models.db import session_scope
from models.tables import Notice, Occurrence, OutboxMessage

SHANGHAI = ZoneInfo("Asia/Shanghai")
UTC = dt.UTC


def _at(day: str, hhmm: str) -> dt.datetime:
    """A Shanghai wall-clock moment as an aware UTC instant."""
    return dt.datetime.fromisoformat(f"{day}T{hhmm}").replace(tzinfo=SHANGHAI).astimezone(UTC)


def _daily(first: str, last: str) -> list[dt.datetime]:
    """Three runs a day, Shanghai time: a minute after midnight, at nine, a minute before midnight."""
    start, end = dt.date.fromisoformat(first), dt.date.fromisoformat(last)
    days = [(start + dt.timedelta(days=i)).isoformat() for i in range((end - start).days + 1)]
    return [_at(day, hhmm) for day in days for hhmm in ("00:01", "09:00", "23:59")]


RUNS: list[dt.datetime] = [
    *_daily("2026-03-02", "2026-03-10"),  # across New York's switch to summer time (2026-03-08 07:00 UTC)
    # No run for eight days (server down), then one just before midnight: T-1 reminders for the 20th go out,
    # the T-7 ones of the 11th were overtaken and are not sent late.
    _at("2026-03-19", "23:59"),
    _at("2026-03-12", "12:00"),  # the clock is set back a week: nothing older than what was told may go out
    _at("2026-03-19", "23:59"),
    *_daily("2026-03-20", "2026-03-27"),  # due day, then overdue and escalation
]


# What the daily schedule does at each instant — decide, render, deliver — on a server in New York.
DAILY_RUNS = """
import datetime as dt, sys
from coop.calendar import default_calendar
from coop.clock import today_in_shanghai
from coop.services.delivery import drain_outbox
from coop.settings import Settings
from coop.services.notifications import batch_notices, record_due_notices
from models.db import session_scope
for arg in sys.argv[1:]:
    day = today_in_shanghai(dt.datetime.fromisoformat(arg))
    with session_scope(Settings().database_url) as s:
        record_due_notices(s, day, default_calendar())
        batch_notices(s, day)
    drain_outbox(wait_seconds=0, settings=Settings(notify_rate_per_minute={}))
    print(day.isoformat(), flush=True)
"""


@pytest.mark.parametrize(
    ("instant", "shanghai_day"),
    [
        ("2026-03-19T15:59:00+00:00", "2026-03-19"),  # 23:59 in Shanghai
        ("2026-03-19T16:01:00+00:00", "2026-03-20"),  # 00:01 in Shanghai, still the 19th in UTC and New York
        ("2026-03-08T06:59:59+00:00", "2026-03-08"),  # New York: 01:59:59 EST, a second before summer time
        ("2026-03-08T07:00:00+00:00", "2026-03-08"),  # New York: 03:00 EDT
        ("2026-11-01T05:30:00+00:00", "2026-11-01"),  # New York: 01:30 EDT, the hour that happens twice
        ("2026-11-01T06:30:00+00:00", "2026-11-01"),  # New York: 01:30 EST, the second time
        ("2026-12-31T16:00:00+00:00", "2027-01-01"),  # New Year in Shanghai, New Year's Eve morning in New York
    ],
)
@pytest.mark.parametrize("server_tz", ["America/New_York", "Pacific/Kiritimati", "UTC"])
def test_the_due_day_is_shanghais_whatever_the_server_time_zone(
    instant: str, shanghai_day: str, server_tz: str
) -> None:
    code = (
        "import datetime as dt, sys; from coop.clock import today_in_shanghai; "
        "print(today_in_shanghai(dt.datetime.fromisoformat(sys.argv[1])))"
    )
    env = {**os.environ, "TZ": server_tz, "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, "-c", code, instant], env=env, cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == shanghai_day


def test_today_without_an_argument_follows_the_real_clock_in_shanghai() -> None:
    code = (
        "import time; from coop.clock import today_in_shanghai; "
        "a = time.time(); d = today_in_shanghai(); b = time.time(); print(a, d, b)"
    )
    env = {**os.environ, "TZ": "America/New_York", "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    before, day, after = out.split()
    possible = {dt.datetime.fromtimestamp(float(t), SHANGHAI).date().isoformat() for t in (before, after)}
    assert day in possible


def test_a_naive_time_is_refused_rather_than_guessed() -> None:
    with pytest.raises(ValueError, match="naive"):
        today_in_shanghai(dt.datetime(2026, 3, 19, 23, 59))


def _expected(url: str, days: list[dt.date]) -> set[str]:
    """What the policy says each run owes, in run order, minus milestones older than one already told."""
    with session_scope(url) as s:
        occurrences = s.execute(select(Occurrence.id, Occurrence.due_date)).all()
    told: dict[int, tuple[int, int]] = {}
    keys: set[str] = set()
    order = {"due_today": (1, 0)}
    for day in days:
        for oid, due in occurrences:
            for n in notices_for(oid, due, "planned", day, CAL, ReminderPolicy()):
                rank = order.get(n.kind) or (
                    (2, n.escalation_round or 0) if n.kind == "escalation" else (0, -int(n.kind[10:]))
                )
                if rank >= told.get(oid, (-1, 0)):
                    told[oid] = rank
                    keys.add(n.dedup_key)
    return keys


@pytest.mark.slow
def test_runs_around_midnight_in_new_york_with_a_skewed_clock_tell_each_milestone_once(
    db_url: str, notify_channels: RobotSink
) -> None:
    plan(db_url, load_agreement(FIXTURES / "notify.yaml"), dt.date(2026, 3, 1))
    env = child_env(db_url, {k: v for k, v in os.environ.items() if k.startswith("COOP_CHANNEL_")})
    env["TZ"] = "America/New_York"
    run = subprocess.run(
        [sys.executable, "-c", DAILY_RUNS, *(r.isoformat() for r in RUNS)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    days = [dt.date.fromisoformat(line) for line in run.stdout.split()]
    assert days == [r.astimezone(SHANGHAI).date() for r in RUNS]

    with session_scope(db_url) as s:
        decided = set(
            s.execute(
                select(Notice.dedup_key).where(
                    Notice.recipient_role == "department",
                    Notice.kind.not_in(["planned", "changed", "cancelled"]),  # type: ignore[attr-defined]
                )
            ).scalars()
        )
        unbatched = s.execute(select(Notice.id).where(Notice.batched.is_(False))).all()
    # Not one day skipped, nothing stale: exactly the milestones the policy owes, run after run.
    assert decided == _expected(db_url, days)
    assert unbatched == []
    # And each message reached its group once.
    assert set(outbox_status(db_url)) == {"sent"}
    assert notify_channels.duplicates == 0
    assert len({r.key for r in notify_channels.delivered()}) == sum(outbox_status(db_url).values()) - _emails(db_url)


def _emails(url: str) -> int:
    with session_scope(url) as s:
        return len(s.execute(select(OutboxMessage.id).where(OutboxMessage.channel == "guangan-email")).all())
