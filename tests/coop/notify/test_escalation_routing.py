"""Escalations stay within the responsible department's own party, delivered to real local peers.

An overdue task escalates to its department's leader, then its own party's coordinator. A clause without a
`lead` (every `each_party` clause) used to send every party's overdue tasks to the first-listed party's
coordinator; the lead party's coordinator now gets only a per-agreement count, and only where a lead is set.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest
from peers.robot_sink import RobotSink
from peers.smtp_sink import SmtpSink

from coop.agreement.loader import parse_agreement
from coop.calendar import WorkdayCalendar
from coop.notify.policy import escalation_recipients
from coop.planning import calendar_fingerprint, expand
from coop.services.delivery import drain_outbox
from coop.services.notifications import batch_notices, record_due_notices
from coop.settings import Settings
from coop.store.plans import apply_plan
from models.db import session_scope

CAL = WorkdayCalendar()
TODAY = dt.date(2026, 3, 20)
FAST = Settings(notify_backoff_seconds=0.05, notify_backoff_max_seconds=0.2, notify_rate_per_minute={})


def agreement(lead_clause: bool) -> str:
    lead = (
        """
      - id: "1.2"
        title: 乙方专项督查
        kind: patrol
        responsible: {party: 乙方, department: 业务处}
        lead: 甲方
        recurrence: {every: month}
"""
        if lead_clause
        else ""
    )
    return f"""
id: routing-2026
title: 路由测试协议
signed: 2026-01-05
term: {{start: 2026-01-05, end: 2026-12-31}}
parties:
  - name: 甲方
    coordinator: 办公室
    departments:
      - name: 办公室
        channels: [a-office]
      - name: 业务处
        leader: 甲方分管领导
        channels: [a-business]
        escalation_channels: [a-leader]
  - name: 乙方
    coordinator: 办公室
    departments:
      - name: 办公室
        channels: [b-office]
      - name: 业务处
        channels: [b-business]
programmes:
  - id: "1"
    title: 联建
    clauses:
      - id: "1.1"
        title: 双方月度台账
        kind: report
        responsible: {{each_party: true, department: 业务处}}
        recurrence: {{every: month}}
{lead}"""


@pytest.fixture
def channels(robot_sink: RobotSink, smtp_sink: SmtpSink, monkeypatch: pytest.MonkeyPatch) -> RobotSink:
    for name in ("a-office", "a-business", "b-office", "b-business"):
        monkeypatch.setenv(f"COOP_CHANNEL_{name.upper().replace('-', '_')}", robot_sink.hook_url(f"hook/{name}"))
    monkeypatch.setenv("COOP_CHANNEL_A_LEADER", smtp_sink.mailto_url("leader@example.cn"))
    return robot_sink


def deliver(url: str, text: str) -> None:
    """Plan, decide today's notices and send them to the local peers."""
    loaded = parse_agreement(text, "routing.yaml")
    with session_scope(url) as s:
        apply_plan(s, loaded, expand(loaded, CAL, 1000), TODAY, "tester", calendar_fingerprint(CAL))
    with session_scope(url) as s:
        record_due_notices(s, TODAY, CAL)
        batch_notices(s, TODAY)
    report = drain_outbox(url, wait_seconds=0, settings=FAST)
    assert report.total("sent") > 0 and report.total("dead") == 0


def received(sink: RobotSink) -> dict[str, list[str]]:
    """Message texts by hook path (one path per department channel)."""
    out: dict[str, list[str]] = {}
    for r in sink.messages("hook"):
        out.setdefault(r.path.removeprefix("/hook/"), []).append(json.dumps(r.body, ensure_ascii=False))
    return out


def test_each_party_escalations_reach_only_their_own_party(
    db_url: str, channels: RobotSink, smtp_sink: SmtpSink
) -> None:
    deliver(db_url, agreement(lead_clause=False))
    got = received(channels)
    # 甲方's coordinator hears of 甲方's overdue task, 乙方's of 乙方's; neither of the other's.
    assert set(got) == {"a-office", "a-business", "b-office", "b-business"}
    for own, other in (("a", "乙方"), ("b", "甲方")):
        office = "\n".join(got[f"{own}-office"])
        assert "逾期督办" in office and "双方月度台账" in office
        assert other not in office, f"{own}-office received the other party's task list"
        assert other not in "\n".join(got[f"{own}-business"])
    # 甲方's leader (who has a channel of their own) hears of 甲方's department only.
    [mail] = smtp_sink.wait_for(1)
    assert "甲方业务处" in mail.text and "乙方" not in mail.text
    # No lead anywhere: no summary to anyone.
    assert not any("督办汇总" in m for ms in got.values() for m in ms)


def test_lead_party_coordinator_gets_a_count_not_the_other_partys_tasks(db_url: str, channels: RobotSink) -> None:
    deliver(db_url, agreement(lead_clause=True))
    got = received(channels)
    a_office = "\n".join(got["a-office"])
    # 1.2 is 乙方's task under 甲方's lead: 甲方's coordinator gets a summary naming 乙方 and a count …
    summaries = [m for m in got["a-office"] if "督办汇总" in m]
    assert len(summaries) == 1 and "乙方" in summaries[0] and "《路由测试协议》" in summaries[0]
    # … but never the task itself; 乙方's own coordinator gets that.
    assert "乙方专项督查" not in a_office
    assert "乙方专项督查" in "\n".join(got["b-office"])


def test_routing_rule() -> None:
    coordinators = {"甲方": 1, "乙方": 3}
    # no lead: leader and own coordinator only
    assert escalation_recipients(4, "乙方", None, coordinators) == [(4, "leader"), (3, "coordinator")]
    # own party leads: no summary on top of the own coordinator
    assert escalation_recipients(4, "乙方", "乙方", coordinators) == [(4, "leader"), (3, "coordinator")]
    # another party leads: its coordinator gets the summary
    assert escalation_recipients(4, "乙方", "甲方", coordinators) == [(4, "leader"), (3, "coordinator"), (1, "lead")]
    # the coordinator department itself is overdue: it is not told twice
    assert escalation_recipients(3, "乙方", None, coordinators) == [(3, "leader")]


def shared(text: str, number: int) -> str:
    """The agreement again under another id and title, its parties named by organisation id, so the two share
    their departments (one department record, one channel, in both)."""
    return (
        text.replace("id: routing-2026", f"id: routing-{number}")
        .replace("title: 路由测试协议", f"title: 路由测试协议{number}")
        .replace("  - name: 甲方", "  - id: test/jia\n    name: 甲方")
        .replace("  - name: 乙方", "  - id: test/yi\n    name: 乙方")
    )


def test_a_coordinator_leading_two_agreements_gets_one_summary_a_day(db_url: str, channels: RobotSink) -> None:
    texts = [shared(agreement(lead_clause=True), n) for n in (1, 2)]
    for n, text in enumerate(texts, 1):
        loaded = parse_agreement(text, f"routing-{n}.yaml")
        with session_scope(db_url) as s:
            apply_plan(s, loaded, expand(loaded, CAL, 1000), TODAY, "tester", calendar_fingerprint(CAL))
    with session_scope(db_url) as s:
        record_due_notices(s, TODAY, CAL)
        batch_notices(s, TODAY)
    assert drain_outbox(db_url, wait_seconds=0, settings=FAST).total("dead") == 0
    got = received(channels)
    summaries = [m for m in got["a-office"] if "督办汇总" in m]
    # One message naming both agreements, each with 乙方's count; still no task of 乙方's.
    assert len(summaries) == 1
    assert "2份协议" in summaries[0] and "《路由测试协议1》" in summaries[0] and "《路由测试协议2》" in summaries[0]
    assert "乙方专项督查" not in "\n".join(got["a-office"])
    # 乙方's own coordinator still gets its task list: one digest covering both agreements' tasks.
    assert "乙方专项督查" in "\n".join(got["b-office"])
