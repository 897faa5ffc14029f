"""Issue 16: one delivery run over several processes, partitioned by destination (`notify_processes`).

Real spawned processes against real local robot sinks, on SQLite and PostgreSQL: every message is sent exactly once,
the reports add up, a robot reached by two channel names is served by one process (its pacing window stays whole),
channels nobody was assigned are the parent's, and a child that dies surfaces as an error without any message being
claimed by another process meanwhile. Waits are on state, never on time.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from outbox_samples import delivery_attempts, queue_messages
from peers.robot_sink import RobotSink
from sqlalchemy import select, update

from coop.notify.channels import channel_env_var
from coop.notify.results import DrainReport
from coop.services import delivery
from coop.services.delivery import (
    AUTO_SHARE,
    DeliveryProcessFailed,
    drain_outbox,
    plan_shards,
    process_count,
)
from coop.settings import Settings
from coop.store.outbox import ChannelFilter, backlog_by_channel
from models.db import session_scope
from models.tables import Department, OutboxMessage, OutboxStatus, utcnow

FAST = Settings(notify_backoff_seconds=0.05, notify_backoff_max_seconds=0.2, require_channels=True)


# ---------------------------------------------------------------- the split itself (pure)


def test_channels_of_one_destination_share_a_shard_and_the_largest_go_first_to_the_least_loaded() -> None:
    backlog = {"a1": 5, "a2": 4, "b": 6, "c": 3, "d": 2, "lost": 7}
    destinations = {"a1": "robot-a", "a2": "robot-a", "b": "robot-b", "c": "robot-c", "d": "robot-d", "lost": None}
    # The parent starts with `lost` (7). robot-a (9) → child 1; robot-b (6) → child 2; robot-c (3) → child 2 (6);
    # robot-d (2) → the parent (7).
    shards = plan_shards(backlog, destinations, 3)
    assert shards == [{"lost", "d"}, {"a1", "a2"}, {"b", "c"}]
    assert [sum(backlog[c] for c in s) for s in shards] == [9, 9, 9]


def test_unresolvable_channels_stay_with_the_parent_and_empty_child_shards_are_dropped() -> None:
    assert plan_shards({"x": 1, "y": 1}, {"x": None, "y": None}, 4) == [{"x", "y"}]
    assert plan_shards({"x": 3, "y": 1}, {"x": "u", "y": "u"}, 4) == [{"x", "y"}]  # one destination: one process
    assert plan_shards({}, {}, 3) == [set()]


def test_a_child_counted_as_already_loaded_leaves_the_parent_more() -> None:
    backlog = {f"c{i}": 1 for i in range(10)}
    destinations = {c: f"url-{c}" for c in backlog}
    parent, child = plan_shards(backlog, destinations, 2, head_start=4)
    assert (len(parent), len(child)) == (7, 3)
    assert plan_shards(backlog, destinations, 2, head_start=10) == [set(backlog)]  # too small to split


def test_the_automatic_process_count_follows_the_backlog_and_the_cpus() -> None:
    assert process_count(0, 0, 8) == 1
    assert process_count(2 * AUTO_SHARE - 1, 0, 8) == 1
    assert process_count(2 * AUTO_SHARE, 0, 8) == 2
    assert process_count(100 * AUTO_SHARE, 0, 2) == 2  # never more than the CPUs
    assert process_count(100 * AUTO_SHARE, 0, 64) == delivery.AUTO_MAX_PROCESSES
    assert process_count(10**6, 1, 8) == 1  # 1: today's single process, whatever the backlog
    assert process_count(3, 3, 1) == 3  # set explicitly: as set


# ---------------------------------------------------------------- real runs


def _configure(monkeypatch: pytest.MonkeyPatch, urls: dict[str, str]) -> None:
    """Channel URLs as a deployment sets them: environment variables, which spawned processes inherit."""
    for name in list(os.environ):
        if name.startswith("COOP_CHANNEL_"):
            monkeypatch.delenv(name)
    for channel, url in urls.items():
        monkeypatch.setenv(channel_env_var(channel), url)


def _rows(url: str) -> list[OutboxMessage]:
    with session_scope(url) as s:
        rows = list(s.execute(select(OutboxMessage).order_by(OutboxMessage.id)).scalars())
        s.expunge_all()
        return rows


def _wait_for(condition: Callable[[], bool], timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.02)


def _plan(url: str, urls: dict[str, str], processes: int) -> list[set[str]]:
    with session_scope(url) as s:
        backlog = backlog_by_channel(s, utcnow())
    return plan_shards(backlog, {c: urls.get(c) for c in backlog}, processes)


def test_three_processes_send_every_message_exactly_once_and_each_robot_from_one_process(
    db_url: str, robot_sink: RobotSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(delivery, "CHILD_HEAD_START", 0)  # few messages: every process gets a share anyway
    channels = {f"g{i}-wecom": 2 + i % 4 for i in range(24)}
    channels.update({"shared-a-wecom": 4, "shared-b-wecom": 5})  # two names, one robot: 9 posts, within its 20
    urls = {c: robot_sink.wecom_url(f"robot-{c}") for c in channels}
    urls["shared-b-wecom"] = urls["shared-a-wecom"]
    _configure(monkeypatch, urls)
    queue_messages(db_url, channels)
    messages = sum(channels.values())
    plan = _plan(db_url, urls, 3)
    assert len(plan) == 3 and any({"shared-a-wecom", "shared-b-wecom"} <= shard for shard in plan)
    robot_sink.limit_rate(20, 600.0)  # the robots' own limit: nothing here may be refused

    # Retries waited for: the sink's listen backlog (socketserver's 5) may refuse a connection when three
    # processes open dozens at once; such a post never arrived, and its retry comes due 50 ms later.
    report = drain_outbox(
        db_url, worker="parent", wait_seconds=60, settings=FAST.model_copy(update={"notify_processes": 3})
    )

    # Exactly once: every key arrived once, nothing was refused, and the reports add up to the sent rows.
    attempts = delivery_attempts(db_url)
    keys = robot_sink.key_counts("wecom")
    assert len(keys) == messages and set(keys.values()) == {1}, [a.detail for a in attempts if not a.ok]
    assert robot_sink.duplicates == 0 and robot_sink.rate_limited() == []
    rows = _rows(db_url)
    assert all(r.status == OutboxStatus.sent for r in rows) and len(rows) == messages
    assert report.total("sent") == messages and report.total("dead") == 0
    assert report.total("retry") == len(attempts) - messages == sum(r.attempts for r in rows) - messages
    assert report.rounds >= 3  # each process claimed at least once

    # Who sent what is the plan: the parent its shard, each child (its own worker name) one other shard.
    workers: dict[str, set[str]] = {}
    for a in attempts:
        workers.setdefault(a.channel, set()).add(a.worker or "")
    by_shard = [{w for c in shard for w in workers[c]} for shard in plan]
    assert by_shard[0] == {"parent"}
    assert all(len(w) == 1 for w in by_shard[1:]) and len(set.union(*by_shard)) == 3
    assert workers["shared-a-wecom"] == workers["shared-b-wecom"]  # one robot, one process, one pacing window


def test_the_parent_takes_channels_nobody_was_assigned(
    db_url: str, monkeypatch: pytest.MonkeyPatch, robot_sink: RobotSink
) -> None:
    """A message queued mid-run, on a channel the plan did not know, is claimed by the parent (its filter
    excludes the children's channels only), never by a child."""
    monkeypatch.setattr(delivery, "CHILD_HEAD_START", 0)
    held = RobotSink().start()  # the parent's robot, holding its posts until the late message is queued
    try:
        channels = {"first-wecom": 3, "second-wecom": 3}
        urls = {"first-wecom": held.wecom_url("first"), "second-wecom": robot_sink.wecom_url("second")}
        urls["late-wecom"] = robot_sink.wecom_url("late")
        _configure(monkeypatch, urls)
        queue_messages(db_url, channels)
        # A tie goes to the parent: first's robot (its URL sorts first) is the parent's, second's the child's.
        assert _plan(db_url, urls, 2) == [{"first-wecom"}, {"second-wecom"}]
        held.hold_next(100)
        runs: dict[str, DrainReport] = {}
        worker = threading.Thread(
            target=lambda: runs.update(
                # Waiting for what comes due (as a scheduled run does): the late message is due at once.
                report=drain_outbox(
                    db_url, worker="parent", wait_seconds=60, settings=FAST.model_copy(update={"notify_processes": 2})
                )
            )
        )
        worker.start()
        _wait_for(lambda: held.holding >= 1)
        with session_scope(db_url) as s:
            dept = s.execute(select(Department.id)).scalar_one()
            s.add(
                OutboxMessage(
                    dedup_key="digest:2026-03-20:late",
                    department_id=dept,
                    recipient_role="department",
                    channel="late-wecom",
                    kind="digest",
                    subject="【协作通】迟到的提醒",
                    body="- 第3.1条 ……",
                )
            )
        held.heal()
        worker.join(timeout=120)
        assert not worker.is_alive()
    finally:
        held.stop()

    attempts = {a.channel: a.worker for a in delivery_attempts(db_url)}
    assert attempts["late-wecom"] == attempts["first-wecom"] == "parent"
    assert attempts["second-wecom"] not in (None, "parent")
    assert all(r.status == OutboxStatus.sent for r in _rows(db_url))
    assert runs["report"].total("sent") == 7
    assert set(robot_sink.key_counts().values()) == {1} and set(held.key_counts().values()) == {1}


def test_a_child_that_dies_fails_the_run_after_the_others_finish_and_nothing_of_its_share_is_taken(
    db_url: str, monkeypatch: pytest.MonkeyPatch, robot_sink: RobotSink
) -> None:
    """The child is killed (SIGKILL) while its first post waits at its robot. The parent finishes its own share, then
    the run raises, naming the child. The child's claimed rows keep their lease: nobody sends them meanwhile. Once
    the leases run out, the next run sends them; only the post in flight at the kill arrives twice (as after any
    crash between sending and recording), and the robot recognises it by its key."""
    monkeypatch.setattr(delivery, "CHILD_HEAD_START", 0)
    doomed = RobotSink().start()
    try:
        channels = {"first-wecom": 4, "second-wecom": 3}
        urls = {"first-wecom": robot_sink.wecom_url("first"), "second-wecom": doomed.wecom_url("second")}
        _configure(monkeypatch, urls)
        queue_messages(db_url, channels)
        assert _plan(db_url, urls, 2) == [{"first-wecom"}, {"second-wecom"}]
        doomed.hold_next(100)
        # One request at a time: the child holds claimed messages it has not sent yet when it dies.
        settings = FAST.model_copy(update={"notify_processes": 2, "notify_concurrency": 1})
        runs: dict[str, BaseException] = {}

        def run() -> None:
            try:
                drain_outbox(db_url, worker="parent", wait_seconds=0, settings=settings)
            except BaseException as exc:  # noqa: BLE001 - the test reads it
                runs["error"] = exc

        worker = threading.Thread(target=run)
        worker.start()
        _wait_for(lambda: doomed.holding >= 1)
        [child] = {r.claimed_by for r in _rows(db_url) if r.channel == "second-wecom" and r.claimed_by}
        assert child is not None and child != "parent"
        os.kill(int(child.rsplit(":", 1)[1]), signal.SIGKILL)
        worker.join(timeout=120)
        assert not worker.is_alive()
        doomed.heal()  # the post in flight is answered now, to nobody
        _wait_for(lambda: len(doomed.messages()) == 1)

        error = runs["error"]
        assert isinstance(error, DeliveryProcessFailed)
        assert "投递子进程 coop-notify-1" in str(error) and "second-wecom" in str(error) and "退出码 -9" in str(error)
        assert error.report.total("sent") == channels["first-wecom"]
        assert len(robot_sink.key_counts()) == 4 and set(robot_sink.key_counts().values()) == {1}
        # The dead child's rows: claimed by it and still leased (none sent by anybody else), or never claimed.
        second = [r for r in _rows(db_url) if r.channel == "second-wecom"]
        assert {(r.status, r.claimed_by) for r in second} <= {
            (OutboxStatus.sending, child),
            (OutboxStatus.pending, None),
        }
        assert all(a.worker == "parent" for a in delivery_attempts(db_url))

        # Their leases run out (as if the lease time had passed): the next run delivers them.
        with session_scope(db_url) as s:
            s.execute(
                update(OutboxMessage)
                .where(OutboxMessage.status == OutboxStatus.sending)
                .values(lease_until=utcnow() - dt.timedelta(days=1))
            )
        again = drain_outbox(
            db_url, worker="next", wait_seconds=0, settings=FAST.model_copy(update={"notify_processes": 1})
        )
        assert again.total("sent") == channels["second-wecom"]
        assert all(r.status == OutboxStatus.sent for r in _rows(db_url))
        counts = doomed.key_counts()
        assert len(counts) == 3 and sorted(counts.values()) == [1, 1, 2] and doomed.duplicates == 1
    finally:
        doomed.stop()


def test_a_child_that_raises_reports_what_failed_and_what_it_had_recorded(tmp_path: Path) -> None:
    """The other way a child fails: an exception (here its database cannot be opened). It still tells the parent
    what it recorded and why it failed, and the parent's error names it."""
    bad = f"sqlite:///{tmp_path / 'missing' / 'coop.db'}"
    channels = frozenset({"a-wecom", "b-wecom", "c-wecom", "d-wecom"})
    process = delivery._start_child("coop-notify-7", (bad, 200, FAST, ChannelFilter(channels), 0.0))
    assert process is not None

    report, failure = delivery._outcome(delivery._Child(channels, process, "coop-notify-7"), FAST)

    assert process.returncode == 1 and report is not None and report.total("sent") == 0
    assert (
        failure is not None
        and "投递子进程 coop-notify-7" in failure
        and "负责 4 个渠道：a-wecom、b-wecom、c-wecom等" in failure
    )
    assert "OperationalError" in failure and "unable to open database file" in failure
