"""Shared set-up for the reliability tests: synthetic agreements, real subprocesses, database snapshots."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Mapping

from conftest import FIXTURES, ROOT
from peers.robot_sink import RobotSink
from sqlalchemy import create_engine, func, select, text

from coop.agreement.loader import LoadedAgreement, load_agreement, parse_agreement
from coop.calendar import WorkdayCalendar
from coop.planning import PlanResult, calendar_fingerprint, expand
from coop.services.notifications import batch_notices, record_due_notices
from coop.store import ledger
from coop.store.plans import apply_plan
from models.db import get_engine, session_scope
from models.tables import OutboxMessage

CAL = WorkdayCalendar()
TODAY = dt.date(2026, 3, 20)  # a Friday: some occurrences of tests/fixtures/notify.yaml overdue, some due soon
# Every table a plan, a notice decision or a dispatch writes; a crash must leave each exactly as it was.
STATE_TABLES = (
    "agency",
    "department",
    "agreement",
    "agreement_version",
    "programme",
    "clause",
    "occurrence",
    "report",
    "notice",
    "outbox",
    "delivery_attempt",
    "ledger_event",
    "ledger_head",
)


def plan(url: str, loaded: LoadedAgreement, today: dt.date = TODAY, limit: int = 5000) -> PlanResult:
    with session_scope(url) as s:
        return apply_plan(s, loaded, expand(loaded, CAL, limit), today, "tester", calendar_fingerprint(CAL))


def decide(url: str, today: dt.date = TODAY) -> int:
    """Today's reminders and escalations, rendered into outbox messages (what dispatch-notifications does first)."""
    with session_scope(url) as s:
        record_due_notices(s, today, CAL)
        return batch_notices(s, today).messages


def plan_and_decide(url: str, today: dt.date = TODAY) -> int:
    plan(url, load_agreement(FIXTURES / "notify.yaml"), today)
    return decide(url, today)


def outbox_status(url: str) -> Counter[str]:
    with session_scope(url) as s:
        return Counter(
            {str(k): v for k, v in s.execute(select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status))}
        )


def outbox_keys(url: str) -> set[str]:
    with session_scope(url) as s:
        return set(s.execute(select(OutboxMessage.dedup_key)).scalars())


def snapshot(url: str) -> dict[str, object]:
    """Row counts of every state table plus the ledger head: equal snapshots mean nothing was written."""
    with get_engine(url).connect() as conn:
        counts: dict[str, object] = {
            t: conn.execute(text(f'SELECT count(*) FROM "{t}"')).scalar_one() for t in STATE_TABLES
        }
        head = conn.execute(text("SELECT last_id, last_hash FROM ledger_head")).all()
        counts["ledger_head_row"] = [tuple(r) for r in head]
        counts["agreement_versions"] = sorted(tuple(r) for r in conn.execute(text("SELECT id, version FROM agreement")))
        counts["occurrence_statuses"] = sorted(
            tuple(r) for r in conn.execute(text("SELECT status, count(*) FROM occurrence GROUP BY status"))
        )
    return counts


def verify_ledger(url: str) -> ledger.Verification:
    with session_scope(url) as s:
        return ledger.verify(s)


def synthetic_agreement(
    agreement_id: str = "reliability-big",
    parties: int = 5,
    clauses: int = 40,
    years: int = 5,
    weekday: int = 5,
    channels: Callable[[int], list[str]] | None = None,
) -> str:
    """A large agreement: `clauses` weekly clauses owed by every party over `years` years (~260·years·parties each).

    `weekday` moves every weekly clause (1–7), so a second version changes every future occurrence.
    """
    start = dt.date(2026, 1, 5)
    end = dt.date(start.year + years, 1, 4)
    lines = [
        f"id: {agreement_id}",
        f"title: 可靠性测试合作协议（{parties}方）",
        "signed: 2026-01-05",
        "term:",
        f"  start: {start}",
        f"  end: {end}",
        "parties:",
    ]
    for p in range(parties):
        lines += [
            f"  - name: 第{p:03d}区",
            "    coordinator: 社会工作部",
            "    departments:",
            "      - name: 社会工作部",
        ]
        if channels is not None:
            lines.append(f"        channels: [{', '.join(channels(p))}]")
    lines += ["programmes:", '  - id: "1"', "    title: 联合巡护工程", "    clauses:"]
    for c in range(clauses):
        lines += [
            f'      - id: "1.{c + 1}"',
            f"        title: 第{c + 1}项联合巡护",
            "        kind: patrol",
            "        responsible: {each_party: true}",
            f"        recurrence: {{every: week, day: {weekday}, window_days: 3}}",
            "        targets: {volunteers: 20}",
        ]
    return "\n".join(lines) + "\n"


def many_recipients(parties: int, sink: RobotSink) -> tuple[LoadedAgreement, dict[str, str]]:
    """An agreement whose every party's department has its own WeCom, DingTalk, Feishu and webhook channel.

    Returns the agreement and the COOP_CHANNEL_* variables pointing each channel at the local sink.
    """
    kinds = ("wecom", "ding", "feishu", "hook")
    text_ = synthetic_agreement(
        "reliability-fanout", parties=parties, clauses=1, years=1, channels=lambda p: [f"p{p:03d}-{k}" for k in kinds]
    )
    env: dict[str, str] = {}
    for p in range(parties):
        env[f"COOP_CHANNEL_P{p:03d}_WECOM"] = sink.wecom_url(f"wecom-key-{p:03d}-a1b2c3d4e5f6")
        env[f"COOP_CHANNEL_P{p:03d}_DING"] = sink.dingtalk_url(
            f"ding-token-{p:03d}-a1b2c3d4", f"SECding{p:03d}secret0123456789"
        )
        env[f"COOP_CHANNEL_P{p:03d}_FEISHU"] = sink.feishu_url(
            f"feishu-hook-{p:03d}-a1b2c3d4", f"feishu{p:03d}Secret0123456789"
        )
        env[f"COOP_CHANNEL_P{p:03d}_HOOK"] = sink.hook_url(f"hook/{p:03d}")
    return parse_agreement(text_, "reliability-fanout.yaml"), env


def child_env(db_url: str, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment for a real coop subprocess: this test's database, no Prefect API, no stray channels."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("COOP_CHANNEL_") and k != "PREFECT_API_URL"}
    env.update({"COOP_DATABASE_URL": db_url, "PYTHONPATH": str(ROOT), **(extra or {})})
    return env


def start_child(code: str, env: Mapping[str, str], *args: str) -> subprocess.Popen[str]:
    """A Python subprocess running `code`; it talks to the test over stdin/stdout lines."""
    return subprocess.Popen(
        [sys.executable, "-c", code, *args],
        cwd=ROOT,
        env=dict(env),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def expect_line(child: subprocess.Popen[str], wanted: str) -> None:
    """Block until the child prints `wanted` (it signals progress this way); fail with its stderr if it dies."""
    assert child.stdout is not None
    while True:
        line = child.stdout.readline()
        if not line:
            child.wait(timeout=30)
            raise AssertionError(
                f"child exited ({child.returncode}) before '{wanted}':\n{child.stderr.read() if child.stderr else ''}"
            )
        if line.strip() == wanted:
            return


def wait_until(condition: Callable[[], bool], timeout: float = 60.0, interval: float = 0.02) -> bool:
    """Poll `condition` until it holds; False when it never did (callers assert on it)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return condition()


def pg_sessions(db_url: str, sql: str, app: str) -> list[tuple[object, ...]]:
    """Ask PostgreSQL about (or act on) the sessions tagged `application_name = :app`, outside any test transaction.

    The queries also say `datname = current_database()`: pg_stat_activity is cluster-wide, and another pytest run on
    the same server (CI beside a developer's run) has its own victims with the same name."""
    engine = create_engine(db_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(text(sql), {"app": app})]
    finally:
        engine.dispose()
