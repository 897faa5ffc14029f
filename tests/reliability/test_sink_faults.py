"""Sinks that misbehave in every way a real one does: each fault is retried with backoff, bounded, then
dead-lettered where a coordinator sees it and can re-queue it — and nothing reaches a group twice."""

from __future__ import annotations

import datetime as dt
import email.utils
import itertools
from collections.abc import Callable

import pytest
from peers.robot_sink import RobotSink
from peers.smtp_sink import SmtpSink
from reliability.scenario import (
    outbox_keys,
    outbox_status,
    plan_and_decide,
    verify_ledger,
)
from sqlalchemy import select
from typer.testing import CliRunner

from coop.cli import app
from coop.services.delivery import drain_outbox
from coop.settings import Settings
from coop.store.outbox import backoff, dead_letters
from models.db import session_scope
from models.tables import DeliveryAttempt, LedgerEvent, OutboxMessage

FAST = Settings(
    notify_backoff_seconds=0.05,
    notify_backoff_max_seconds=0.2,
    notify_max_attempts=3,
    notify_rate_per_minute={},
    # The sink answers at once unless a test makes it slow: a loaded CI box must not time out.
    notify_timeout_seconds=5.0,
)
PATIENT = FAST.model_copy(update={"notify_max_attempts": 5})
# For the faults that are slowness: a faulty answer takes three times this, a healthy one on a loaded box far less.
IMPATIENT = PATIENT.model_copy(update={"notify_timeout_seconds": 2.0})


NOT_BEFORE = dt.datetime.now(dt.UTC).replace(microsecond=0)  # moved forward per test, see _retry_at


def _retry_at(sink: RobotSink) -> None:
    """Retry-After as an HTTP date three seconds ahead: no retry may come before it."""
    global NOT_BEFORE
    NOT_BEFORE = (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=3)).replace(microsecond=0)
    sink.status_next(2, 429, retry_after=email.utils.format_datetime(NOT_BEFORE, usegmt=True), protocol="wecom")


# fault name → (inject it twice into the WeCom robot's next requests, what the attempt records, least wait after it)
TRANSIENT: dict[str, tuple[Callable[[RobotSink], None], str, float]] = {
    "timeout": (lambda s: s.slow_next(2, seconds=6.0, protocol="wecom"), "timeout", 0.0),
    "http-503": (lambda s: s.status_next(2, 503, protocol="wecom"), "HTTP 503", 0.0),
    "http-429-retry-after-seconds": (
        lambda s: s.status_next(2, 429, retry_after="1", protocol="wecom"),
        "HTTP 429",
        1.0,
    ),
    "http-429-retry-after-date": (_retry_at, "HTTP 429", 0.0),
    # 30 bytes at 0.25 s each: every byte well within the 2 s per-read timeout, the whole answer well past it.
    "slow-loris": (lambda s: s.dribble_next(2, seconds_per_byte=0.25, protocol="wecom"), "timeout", 0.0),
    "hang-up": (lambda s: s.hang_up_next(2, protocol="wecom"), "connection failed", 0.0),
    "errcode-busy": (lambda s: s.fail_next(2, errcode=-1, errmsg="system busy", protocol="wecom"), "errcode -1", 0.0),
}


def _attempts(url: str, channel: str) -> list[DeliveryAttempt]:
    with session_scope(url) as s:
        return list(
            s.execute(
                select(DeliveryAttempt)
                .join(OutboxMessage, OutboxMessage.id == DeliveryAttempt.outbox_id)
                .where(OutboxMessage.channel == channel)
                .order_by(DeliveryAttempt.id)
            ).scalars()
        )


@pytest.mark.parametrize("fault", list(TRANSIENT))
def test_transient_fault_is_retried_with_backoff_and_delivered_once(
    db_url: str, notify_channels: RobotSink, fault: str
) -> None:
    inject, detail, least_wait = TRANSIENT[fault]
    assert plan_and_decide(db_url) == 5
    inject(notify_channels)
    settings = IMPATIENT if detail == "timeout" else PATIENT
    # The drain returns once nothing waits; the budget is only an overall deadline for a loaded box.
    report = drain_outbox(db_url, wait_seconds=120, settings=settings)
    # Only the faulty robot's retries are counted: under load a short timeout may also retry a healthy peer once.
    retried = sum(
        n for (channel, _, outcome), n in report.counts.items() if outcome == "retry" and channel == "yubei-wecom"
    )
    assert retried == 2 and report.total("dead") == 0
    assert outbox_status(db_url) == {"sent": 5}

    attempts = _attempts(db_url, "yubei-wecom")
    assert [a.ok for a in attempts] == [False, False, True]
    assert all(detail in a.detail and a.retryable for a in attempts[:2]), [a.detail for a in attempts]
    # Each retry waited at least its backoff (or what the sink asked for): the schedule is stored, not slept on.
    for n, (failed, following) in enumerate(itertools.pairwise(attempts), start=1):
        wait = backoff(n, settings.notify_backoff_seconds, settings.notify_backoff_max_seconds, least_wait or None)
        assert (following.at - failed.at).total_seconds() >= wait
    if fault == "http-429-retry-after-date":
        assert attempts[1].at >= NOT_BEFORE

    # Whatever the sink did with the faulty requests, the group saw the message exactly once.
    [seen] = notify_channels.delivered("wecom")
    assert {r.key for r in notify_channels.messages("wecom")} == {seen.key}
    assert {r.key for r in notify_channels.delivered()} == outbox_keys(db_url) - {
        k for k in outbox_keys(db_url) if "guangan-email" in k
    }


@pytest.mark.parametrize(("protocol", "code"), [("wecom", 93000), ("dingtalk", 310000), ("feishu", 19021)])
def test_permanent_robot_error_is_dead_lettered_at_once(
    db_url: str, notify_channels: RobotSink, protocol: str, code: int
) -> None:
    """Revoked key, bad signature: retrying the same URL cannot help, so it is not hammered."""
    plan_and_decide(db_url)
    notify_channels.fail_next(1, errcode=code, errmsg="refused", protocol=protocol)  # type: ignore[arg-type]
    report = drain_outbox(db_url, wait_seconds=5, settings=PATIENT)
    [(outbox_id, _, error)] = report.dead
    assert str(code) in error and report.total("retry") == 0
    with session_scope(db_url) as s:
        message = s.get(OutboxMessage, outbox_id)
        assert message is not None and message.attempts == 1 and message.status == "dead"
    assert outbox_status(db_url) == {"sent": 4, "dead": 1}


def test_persistent_faults_are_bounded_dead_lettered_listed_and_requeued_by_a_coordinator(
    db_env: str, notify_channels: RobotSink, smtp_sink: SmtpSink
) -> None:
    url = db_env
    plan_and_decide(url)
    notify_channels.status_next(1000, 502)  # every robot and the webhook: 502, whatever we do
    report = drain_outbox(url, wait_seconds=120, settings=FAST)
    assert report.total("dead") == 4 and report.total("sent") == 1  # only the email got through
    assert report.total("retry") == 4 * (FAST.notify_max_attempts - 1)

    dead = dead_letters_now(url)
    assert {d.channel for d in dead} == {"yubei-wecom", "yubei-leader-dingtalk", "changshou-feishu", "guangan-hook"}
    for d in dead:
        assert d.attempts == FAST.notify_max_attempts and d.last_error and "502" in d.last_error
        assert len([a for a in _attempts(url, d.channel) if not a.ok]) == FAST.notify_max_attempts
    # Bounded: the dead stay dead however long a dispatcher waits.
    assert drain_outbox(url, wait_seconds=0.5, settings=FAST).rounds == 0

    runner = CliRunner()
    listed = runner.invoke(app, ["outbox", "list"])
    assert listed.exit_code == 0, listed.output
    assert "死信 4" in listed.output and "已发送 1" in listed.output
    for d in dead:
        assert d.channel in listed.output

    notify_channels.heal()
    first, *rest = sorted(d.id for d in dead)
    one = runner.invoke(app, ["outbox", "requeue", "--id", str(first)])
    assert one.exit_code == 0 and "已重新排队 1 条" in one.output, one.output
    again = runner.invoke(app, ["outbox", "requeue", "--id", str(first)])  # no longer dead: refused, nothing written
    assert again.exit_code == 2 and "不是死信" in again.output
    everything = runner.invoke(app, ["outbox", "requeue"])
    assert everything.exit_code == 0 and "已重新排队 3 条" in everything.output, everything.output

    with session_scope(url) as s:
        events = (
            s.execute(select(LedgerEvent).where(LedgerEvent.kind == "outbox_requeued").order_by(LedgerEvent.id))
            .scalars()
            .all()
        )
    assert [e.payload for e in events] == [
        f'{{"count":1,"outbox_ids":[{first}]}}',
        f'{{"count":3,"outbox_ids":[{",".join(map(str, rest))}]}}',
    ]
    assert all(e.actor for e in events) and verify_ledger(url).ok
    assert runner.invoke(app, ["audit", "verify"]).exit_code == 0

    notify_channels.received.clear()
    assert drain_outbox(url, wait_seconds=120, settings=FAST).total("sent") == 4
    assert outbox_status(url) == {"sent": 5}
    assert sorted(r.key or "" for r in notify_channels.delivered()) == sorted(
        k for k in outbox_keys(url) if "guangan-email" not in k
    )
    assert notify_channels.duplicates == 0 and len(smtp_sink.mails) == 1


def dead_letters_now(url: str) -> list:  # type: ignore[type-arg]
    with session_scope(url) as s:
        return dead_letters(s)


def test_connection_refused_until_the_last_attempt_then_dead_and_no_late_duplicate(
    db_url: str, notify_channels: RobotSink
) -> None:
    """A sink that is down for every attempt leaves no message behind half-sent: dead, and resendable once."""
    plan_and_decide(db_url)
    notify_channels.stop()
    report = drain_outbox(db_url, wait_seconds=120, settings=FAST)
    assert report.total("dead") == 4 and all("connection" in e.lower() for _, _, e in report.dead)
    notify_channels.restart()
    assert drain_outbox(db_url, wait_seconds=0, settings=FAST).rounds == 0  # dead letters wait for a person
    assert notify_channels.received == []
