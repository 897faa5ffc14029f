"""Notifications end to end against real local peers: robot HTTP sink and SMTP server, SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from conftest import FIXTURES, ROOT
from peers.robot_sink import RobotSink
from peers.smtp_sink import SmtpSink
from sqlalchemy import func, select

from coop.agreement.loader import load_agreement
from coop.calendar import WorkdayCalendar
from coop.notify import sender
from coop.notify.channels import IDEMPOTENCY_HEADER
from coop.notify.results import DrainReport
from coop.planning import calendar_fingerprint, expand
from coop.services.delivery import drain_outbox
from coop.services.notifications import batch_notices, longest_first, record_due_notices
from coop.settings import Settings
from coop.store.outbox import dead_letters, requeue_dead
from coop.store.plans import apply_plan
from coop.summary import dead_letters_markdown
from models.db import session_scope
from models.tables import DeliveryAttempt, OutboxMessage, utcnow

CAL = WorkdayCalendar()
TODAY = dt.date(2026, 3, 20)  # a Friday: some occurrences overdue, some due soon
FAST = Settings(
    notify_backoff_seconds=0.05, notify_backoff_max_seconds=0.2, notify_max_attempts=3, notify_rate_per_minute={}
)


def plan_and_decide(url: str, today: dt.date = TODAY) -> int:
    loaded = load_agreement(FIXTURES / "notify.yaml")
    with session_scope(url) as s:
        apply_plan(s, loaded, expand(loaded, CAL, 1000), today, "tester", calendar_fingerprint(CAL))
    with session_scope(url) as s:
        record_due_notices(s, today, CAL)
        return batch_notices(s, today).messages


def outbox_status(url: str) -> Counter[str]:
    with session_scope(url) as s:
        return Counter(dict(s.execute(select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)).all()))


def test_each_recipient_gets_one_chinese_digest_per_channel_once(
    db_url: str, notify_channels: RobotSink, smtp_sink: SmtpSink
) -> None:
    messages = plan_and_decide(db_url)
    # yubei dept (wecom) + its leader (dingtalk, escalation) + changshou (feishu) + guangan (email + hook)
    assert messages == 5
    report = drain_outbox(db_url, wait_seconds=0, settings=FAST)
    assert report.total("sent") == 5 and report.total("dead") == 0
    wecom = notify_channels.messages("wecom")
    assert len(wecom) == 1
    content = wecom[0].body["markdown"]["content"]
    assert "联合培训" in content and "第1.1条" in content and "《通知测试合作协议》" in content
    assert "coop done" in content and "星期" in content
    [leader] = notify_channels.messages("dingtalk")
    assert "【逾期督办】" in leader.body["markdown"]["title"]
    assert "责任单位：渝北区区委社会工作部" in leader.body["markdown"]["text"]
    assert len(notify_channels.messages("feishu")) == 1
    [hook] = notify_channels.messages("hook")
    assert hook.headers.get(IDEMPOTENCY_HEADER, "").startswith(("digest:", "escalation:"))
    [mail] = smtp_sink.wait_for(1)
    assert "广安市市委社会工作部" in mail.subject and "金点子征集" in mail.text

    # the same day again: nothing new is decided, nothing is sent twice
    assert plan_and_decide(db_url) == 0
    drain_outbox(db_url, wait_seconds=0, settings=FAST)
    assert len(notify_channels.received) == 4 and len(smtp_sink.mails) == 1
    # the next working day brings only what changed (new milestones), still one message per recipient
    nxt = CAL.add_workdays(TODAY, 1)
    with session_scope(db_url) as s:
        record_due_notices(s, nxt, CAL)
        batch = batch_notices(s, nxt)
    assert batch.messages <= 5


def test_the_days_messages_are_queued_longest_first() -> None:
    """The dispatcher claims in id order; a digest a robot takes in several paced parts is queued before shorter
    ones, so its parts' waits overlap the rest of the day's sending. An e-mail is one message however long: it
    keeps its place, as do messages of equal length."""
    kinds = {"robot": "wecom", "mail": "email"}
    post = 4096  # a WeCom post's bytes
    messages = [
        {"channel": "robot", "body": "短", "n": 1},
        {"channel": "mail", "body": "邮" * post, "n": 2},
        {"channel": "robot", "body": "x" * (2 * post + 10), "n": 3},
        {"channel": "robot", "body": "x" * (post + 10), "n": 4},
        {"channel": "robot", "body": "长", "n": 5},
    ]
    assert [m["n"] for m in longest_first(messages, kinds.get)] == [3, 4, 1, 2, 5]
    assert [m["n"] for m in longest_first(messages)] == [1, 2, 3, 4, 5]  # kinds unknown: as they came


def test_sink_down_then_back_is_retried_and_delivered(db_url: str, notify_channels: RobotSink) -> None:
    plan_and_decide(db_url)
    notify_channels.stop()
    patient = FAST.model_copy(update={"notify_backoff_seconds": 1.0, "notify_backoff_max_seconds": 2.0})
    first = drain_outbox(db_url, wait_seconds=0, settings=patient)
    assert first.total("sent") == 1 and first.total("dead") == 0  # the email still went out
    assert first.total("retry") == 4 and outbox_status(db_url) == Counter({"pending": 4, "sent": 1})
    notify_channels.restart()
    second = drain_outbox(db_url, wait_seconds=5, settings=patient)
    assert second.total("sent") == 4
    assert outbox_status(db_url) == Counter({"sent": 5})
    with session_scope(db_url) as s:
        failed = s.execute(
            select(func.count()).select_from(DeliveryAttempt).where(DeliveryAttempt.ok.is_(False))
        ).scalar_one()
    assert failed == first.total("retry")


def test_errcode_is_retried_then_dead_lettered_then_requeued(db_url: str, notify_channels: RobotSink) -> None:
    plan_and_decide(db_url)
    # HTTP 200 with errcode -1 ("system busy"): apprise alone would call this a success. A generic JSON
    # webhook has no errcode convention, so only the three robots fail.
    notify_channels.fail_next(100, errcode=-1, errmsg="system busy")
    report = drain_outbox(db_url, wait_seconds=5, settings=FAST)
    assert report.total("dead") == 3 and report.total("retry") == 6  # 3 attempts each
    assert all("-1" in error for _, _, error in report.dead)
    assert outbox_status(db_url) == Counter({"dead": 3, "sent": 2})
    notify_channels.heal()
    notify_channels.received.clear()
    with session_scope(db_url) as s:
        assert requeue_dead(s, None, utcnow()) == 3
    assert drain_outbox(db_url, wait_seconds=0, settings=FAST).total("sent") == 3
    assert len(notify_channels.messages()) == 3


def test_rate_limit_errcode_waits_as_the_robot_asks(
    db_url: str, notify_channels: RobotSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Only WeCom robots here, so whichever message meets the fault gets WeCom's rate-limit code.
    for i, name in enumerate(("YUBEI_LEADER_DINGTALK", "CHANGSHOU_FEISHU", "GUANGAN_HOOK")):
        monkeypatch.setenv(f"COOP_CHANNEL_{name}", notify_channels.wecom_url(f"extra-wecom-key-{i}"))
    plan_and_decide(db_url)
    notify_channels.fail_next(1, errcode=45009)  # WeCom: "api freq out of limit" — wait a minute, don't hammer
    report = drain_outbox(db_url, wait_seconds=0.5, settings=FAST)
    assert report.total("retry") == 1 and report.total("dead") == 0
    with session_scope(db_url) as s:
        waiting = s.execute(select(OutboxMessage).where(OutboxMessage.status == "pending")).scalar_one()
    assert (waiting.next_attempt_at - utcnow()).total_seconds() > 50


def test_unconfigured_channel_is_dead_lettered_with_the_variable_to_set_when_channels_are_required(
    db_url: str, notify_channels: RobotSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("COOP_CHANNEL_CHANGSHOU_FEISHU")
    plan_and_decide(db_url)
    report = drain_outbox(db_url, wait_seconds=0, settings=FAST.model_copy(update={"require_channels": True}))
    [(_, channel, error)] = report.dead
    assert channel == "changshou-feishu" and "COOP_CHANNEL_CHANGSHOU_FEISHU" in error
    assert "coop-feishu://" in error and "coop-wecom://" not in error  # the example is of the channel's own kind
    with session_scope(db_url) as s:
        audit_section = dead_letters_markdown(dead_letters(s))
    assert "长寿区" in audit_section and "changshou-feishu" in audit_section and "死信" in audit_section


def test_unconfigured_channel_falls_back_to_the_local_inbox_with_a_warning(
    db_url: str,
    notify_channels: RobotSink,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.delenv("COOP_CHANNEL_CHANGSHOU_FEISHU")
    plan_and_decide(db_url)
    with caplog.at_level("WARNING", logger="coop.notify"):
        report = drain_outbox(db_url, wait_seconds=0, settings=FAST.model_copy(update={"inbox_dir": tmp_path}))
    assert report.dead == []
    inbox = tmp_path / "changshou-feishu.md"
    assert "长寿区" in inbox.read_text(encoding="utf-8")
    assert set(outbox_status(db_url)) == {"sent"}  # every message delivered, the unconfigured channel to a file
    [warning] = [r.getMessage() for r in caplog.records if "changshou-feishu" in r.getMessage()]
    assert "未配置" in warning and "COOP_CHANNEL_CHANGSHOU_FEISHU" in warning and str(inbox) in warning
    assert "COOP_REQUIRE_CHANNELS=1" in warning and "coop-feishu://" in warning


@pytest.mark.slow
def test_dispatcher_killed_mid_run_loses_nothing_and_sends_nothing_twice(
    db_url: str, notify_channels: RobotSink, tmp_path: Path
) -> None:
    plan_and_decide(db_url)
    with session_scope(db_url) as s:
        keys = set(s.execute(select(OutboxMessage.dedup_key)).scalars())
    # Robot requests wait at the sink, let through one at a time until a message is recorded as sent and the next
    # one waits: the victim is killed while it is certainly mid-delivery, however loaded the machine.
    notify_channels.hold_next(1000)
    # Twenty-second leases: a message goes out only while half its lease is left, and on a loaded box (stress-ng, CI)
    # the first claim and apprise's import took longer than half of a five-second one (the victim handed all back).
    env = {**os.environ, "COOP_DATABASE_URL": db_url, "COOP_NOTIFY_CONCURRENCY": "1", "COOP_NOTIFY_LEASE_SECONDS": "20"}
    victim = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import apprise; from coop.services.delivery import drain_outbox; from coop.settings import get_settings; "
            "drain_outbox(wait_seconds=0, settings=get_settings())",
        ],
        cwd=ROOT,
        env=env,
    )
    deadline = time.monotonic() + 300
    while not (outbox_status(db_url)["sent"] and notify_channels.holding) and time.monotonic() < deadline:
        assert victim.poll() is None, (
            f"the dispatcher ended (exit {victim.returncode}) before it was held mid-run: {outbox_status(db_url)}, "
            f"{len(notify_channels.received)} requests at the sink, {notify_channels.holding} waiting"
        )
        if notify_channels.holding and not outbox_status(db_url)["sent"]:
            notify_channels.let_through(1)  # a long digest goes in parts: its next part
        time.sleep(0.05)
    assert notify_channels.holding, "the dispatcher never reached the held request"
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait()
    assert 0 < outbox_status(db_url)["sent"] < len(keys)
    notify_channels.heal()
    # The drain waits for the victim's leases to run out, then takes its messages over.
    drain_outbox(db_url, wait_seconds=120, settings=FAST)
    assert outbox_status(db_url) == Counter({"sent": len(keys)})
    seen = Counter(r.headers.get(IDEMPOTENCY_HEADER) for r in notify_channels.messages())
    email = {k for k in keys if ":guangan-email:" in k}
    assert set(seen) == keys - email
    # at most what the process had in flight when it died (concurrency 1) plus what it had delivered but not
    # yet recorded (one settle group) arrives twice, and with the same key
    assert sum(n - 1 for n in seen.values()) <= 2


@pytest.mark.slow
def test_a_message_paced_past_its_lease_keeps_the_lease_and_goes_once(
    db_url: str, notify_channels: RobotSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Per-robot pacing may hold a message longer than its lease: the dispatcher renews the lease meanwhile,
    so another dispatcher finds nothing to take over, and each message reaches the group once."""
    plan_and_decide(db_url)
    with session_scope(db_url) as s:
        first = s.execute(select(OutboxMessage).where(OutboxMessage.channel == "yubei-wecom")).scalar_one()
        for i in range(3):  # three more for the same robot
            s.add(
                OutboxMessage(
                    dedup_key=f"extra:{i}",
                    department_id=first.department_id,
                    recipient_role="department",
                    channel="yubei-wecom",
                    kind="digest",
                    subject=f"补充提醒{i}",
                    body="正文",
                )
            )
    # One message in any four seconds to a WeCom robot (its rate's window shortened), three-second leases: the
    # second goes out a lease and more after the claim, the fourth twelve seconds after the first.
    monkeypatch.setattr(sender, "WINDOW_SECONDS", 4.0)
    paced = FAST.model_copy(update={"notify_rate_per_minute": {"wecom": 1}, "notify_lease_seconds": 3.0})
    runs: dict[str, object] = {}
    first_run = threading.Thread(
        target=lambda: runs.update(first=drain_outbox(db_url, worker="first", wait_seconds=0, settings=paced))
    )
    first_run.start()
    deadline = time.monotonic() + 120
    while len(notify_channels.messages("wecom")) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    # More than a lease after the claim, the last two WeCom messages are still waiting for their turn, held by the
    # first dispatcher (the next one is due four seconds after the second).
    sent = {r.key for r in notify_channels.messages("wecom")}
    with session_scope(db_url) as s:
        wecom_rows = s.execute(
            select(OutboxMessage.dedup_key, OutboxMessage.status, OutboxMessage.claimed_by).where(
                OutboxMessage.channel == "yubei-wecom"
            )
        ).all()
    assert len(sent) == 2
    assert sorted((status, by) for key, status, by in wecom_rows if key not in sent) == [("sending", "first")] * 2
    intruder = drain_outbox(db_url, worker="intruder", wait_seconds=0, settings=paced)
    first_run.join(timeout=120)
    assert not first_run.is_alive()

    assert intruder.rounds == 0  # nothing was up for grabs
    report = runs["first"]
    assert isinstance(report, DrainReport) and report.total("sent") == 8
    assert outbox_status(db_url) == Counter({"sent": 8})
    wecom = notify_channels.messages("wecom")
    assert sorted(r.key or "" for r in wecom) == sorted([first.dedup_key, "extra:0", "extra:1", "extra:2"])
    with session_scope(db_url) as s:
        assert set(s.execute(select(OutboxMessage.attempts)).scalars()) == {1}
        assert s.execute(select(func.count()).select_from(DeliveryAttempt)).scalar_one() == 8
