"""Issue 13, finding 7: a long robot message records each part the robot accepted (`outbox.parts_sent`), so a retry
— by the same or another dispatcher — starts at the first unsent part; only the lease holder writes that progress.

Against the real local robot sink enforcing WeCom's 20 messages per window (errcode 45009), on SQLite and PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
import time
from collections import Counter
from collections.abc import Callable
from functools import cache

import pytest
from outbox_samples import delivery_attempts
from peers.robot_sink import RobotSink
from sqlalchemy import select, update

from coop.notify import sender
from coop.notify.channels import Channel, channel_kind, request_count
from coop.notify.results import DrainReport
from coop.services.delivery import drain_outbox
from coop.services.outbox import list_outbox
from coop.settings import Settings
from coop.store.outbox import claim, record_parts
from models.db import session_scope
from models.tables import Agency, Department, OutboxMessage, OutboxStatus, utcnow

LIMIT = 20  # the robot's real rate: 20 messages per window
WINDOW = 1.0  # the sink's "minute", shortened so the test runs in seconds
PARTS = 30  # the robot takes 20, refuses part 21; the retry has to send 21–30 only
SUBJECT = "【协作通】渝北区商务委任务提醒"
FAST = Settings(
    notify_backoff_seconds=0.05, notify_backoff_max_seconds=0.2, notify_max_attempts=5, notify_rate_per_minute={}
)


@cache
def _long_body(parts: int = PARTS) -> str:
    """A markdown digest body that WeCom must take in exactly `parts` numbered parts."""

    def body(lines: int) -> str:
        return "".join(
            f"- 第2.1条 联合招商推介会，任务编号 #{n}，3月14日（星期五）截止，已逾期2个工作日\n" for n in range(lines)
        )

    low, high = 1, 10_000
    while high - low > 1:
        middle = (low + high) // 2
        if request_count("coop-wecom://k", SUBJECT, body(middle)) <= parts:
            low = middle
        else:
            high = middle
    found = body(low)
    assert request_count("coop-wecom://k", SUBJECT, found) == parts
    return found


def _queue_long_message(url: str, body: str | None = None) -> int:
    """One outbox row holding a long digest (of PARTS parts unless `body` is given) for a WeCom group, due now."""
    with session_scope(url) as s:
        agency = Agency(key="yubei", name="渝北区")
        s.add(agency)
        s.flush()
        department = Department(agency_id=agency.id, key="swb", name="商务委", channels=["yubei-wecom"])
        s.add(department)
        s.flush()
        assert department.id is not None
        message = OutboxMessage(
            dedup_key="digest:2026-03-20:department:yubei-wecom",
            department_id=department.id,
            recipient_role="department",
            channel="yubei-wecom",
            kind="digest",
            subject=SUBJECT,
            body=body or _long_body(),
        )
        s.add(message)
        s.flush()
        assert message.id is not None
        return message.id


def _resolver(url: str) -> Callable[[str], Channel]:
    return lambda name: Channel(name=name, url=url, kind=channel_kind(url), source="env")


def _row(url: str, outbox_id: int) -> OutboxMessage:
    with session_scope(url) as s:
        row = s.get(OutboxMessage, outbox_id)
        assert row is not None
        s.expunge(row)
        return row


def _part(content: str) -> int:
    match = re.search(r"（(\d+)/(\d+)）", content)
    assert match is not None and int(match.group(2)) == PARTS, content[:80]
    return int(match.group(1))


def _accepted_parts(sink: RobotSink) -> list[int]:
    """The part number of every post the group saw, in arrival order."""
    return [_part(r.body["markdown"]["content"]) for r in sink.messages("wecom")]


def _wait_for(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.02)


def test_a_second_dispatcher_resumes_at_the_first_unsent_part(db_url: str, robot_sink: RobotSink) -> None:
    robot_sink.limit_rate(LIMIT, WINDOW, retry_after=str(WINDOW))
    outbox_id = _queue_long_message(db_url)
    resolve = _resolver(robot_sink.wecom_url())

    # No pacing: the first dispatcher overruns the robot, which takes 20 parts and refuses part 21.
    first = drain_outbox(db_url, worker="first", wait_seconds=0, settings=FAST, resolve=resolve)

    assert first.total("retry") == 1 and first.total("sent") == 0
    row = _row(db_url, outbox_id)
    assert (row.status, row.parts_sent, row.attempts) == (OutboxStatus.pending, LIMIT, 1)
    assert _accepted_parts(robot_sink) == list(range(1, LIMIT + 1))
    [refused] = robot_sink.rate_limited("wecom")
    assert _part(refused.body["markdown"]["content"]) == LIMIT + 1
    [attempt] = delivery_attempts(db_url)
    assert attempt.worker == "first" and not attempt.ok and "45009" in attempt.detail
    assert f"本次送达第 1–{LIMIT} 段" in attempt.detail and f"下次从第 {LIMIT + 1} 段续发" in attempt.detail
    [listed] = [r for r in list_outbox(db_url, "pending").rows if r.id == outbox_id]
    assert listed.parts_sent == LIMIT  # what `coop outbox list` shows as 前 20 段

    # Another dispatcher picks the retry up once the robot's Retry-After has passed, and sends 21–30 only.
    second = drain_outbox(db_url, worker="second", wait_seconds=10, settings=FAST, resolve=resolve)

    assert second.total("sent") == 1
    row = _row(db_url, outbox_id)
    assert (row.status, row.parts_sent, row.attempts) == (OutboxStatus.sent, PARTS, 2)
    # Each part reached the group exactly once, in order, and with the same text as the first attempt cut it.
    assert _accepted_parts(robot_sink) == list(range(1, PARTS + 1))
    contents = Counter(r.body["markdown"]["content"] for r in robot_sink.messages("wecom"))
    assert len(contents) == PARTS and set(contents.values()) == {1}
    assert _part(refused.body["markdown"]["content"]) == LIMIT + 1
    assert refused.body in [r.body for r in robot_sink.messages("wecom")]  # part 21 on retry: the very same text
    assert robot_sink.duplicates == 0
    _, resumed = delivery_attempts(db_url)
    assert resumed.worker == "second" and resumed.ok
    assert f"本次送达第 {LIMIT + 1}–{PARTS} 段，共 {PARTS} 段，已全部送达" in resumed.detail


def test_only_the_lease_holder_records_parts(db_url: str) -> None:
    outbox_id = _queue_long_message(db_url)
    start = utcnow()
    with session_scope(db_url) as s:
        [mine] = claim(s, "first", 10, start, lease_seconds=30)
        assert mine.parts_sent == 0
        assert record_parts(s, "first", outbox_id, 3)
    # The first dispatcher's lease runs out and another one claims the row: it resumes after part 3.
    with session_scope(db_url) as s:
        [taken] = claim(s, "second", 10, start + dt.timedelta(seconds=31), lease_seconds=30)
        assert taken.parts_sent == 3
    with session_scope(db_url) as s:
        assert not record_parts(s, "first", outbox_id, 7)  # the old holder may no longer write
        assert record_parts(s, "second", outbox_id, 4)
    assert _row(db_url, outbox_id).parts_sent == 4


def test_a_dispatcher_whose_message_was_taken_over_stops_and_writes_nothing(
    db_url: str, robot_sink: RobotSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    outbox_id = _queue_long_message(db_url)
    # Paced at one part in any 0.1 s: the test takes the row over while the dispatcher is part-way through.
    monkeypatch.setattr(sender, "WINDOW_SECONDS", 0.1)
    paced = FAST.model_copy(update={"notify_rate_per_minute": {"wecom": 1}})
    runs: dict[str, object] = {}
    worker = threading.Thread(
        target=lambda: runs.update(
            first=drain_outbox(
                db_url, worker="first", wait_seconds=0, settings=paced, resolve=_resolver(robot_sink.wecom_url())
            )
        )
    )
    worker.start()
    _wait_for(lambda: _row(db_url, outbox_id).parts_sent >= 3)
    # As if its lease had run out: another dispatcher claims the row (the real claim, at a later clock).
    with session_scope(db_url) as s:
        s.execute(
            update(OutboxMessage).where(OutboxMessage.id == outbox_id).values(lease_until=utcnow() - dt.timedelta(1))
        )
    with session_scope(db_url) as s:
        [taken] = claim(s, "intruder", 10, utcnow(), lease_seconds=60)
    worker.join(timeout=30)
    assert not worker.is_alive()

    # The first dispatcher noticed at its next accepted part and sent no further part; the row is the intruder's.
    posted = len(robot_sink.messages("wecom"))
    assert taken.parts_sent <= posted <= taken.parts_sent + 1 < PARTS
    row = _row(db_url, outbox_id)
    assert (row.status, row.claimed_by, row.parts_sent) == (OutboxStatus.sending, "intruder", taken.parts_sent)
    [attempt] = delivery_attempts(db_url)
    assert attempt.worker == "first" and not attempt.ok and "其他投递进程接手" in attempt.detail


def test_a_long_message_waiting_for_its_robots_next_turn_holds_no_slot(
    db_url: str, robot_sink: RobotSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 16: between the parts of a long message the dispatcher waits for the robot's next turn without a
    delivery slot. With one slot, messages to other robots go out while it waits; its own parts still go out in
    order, spaced as the robot's rate asks, each once, under the one claim (kept by renewing a short lease)."""
    parts, others = 3, 4
    long_id = _queue_long_message(db_url, _long_body(parts))
    with session_scope(db_url) as s:
        department_id = _row(db_url, long_id).department_id
        s.add_all(
            OutboxMessage(
                dedup_key=f"digest:2026-03-20:department:other-{i}-wecom",
                department_id=department_id,
                recipient_role="department",
                channel=f"other-{i}-wecom",
                kind="digest",
                subject=f"【协作通】第{i}个群的提醒",
                body="- 第2.1条 联合招商推介会，3月14日（星期五）截止",
            )
            for i in range(others)
        )
    urls = {"yubei-wecom": robot_sink.wecom_url("long-robot")}
    urls.update({f"other-{i}-wecom": robot_sink.wecom_url(f"other-robot-{i}") for i in range(others)})
    # One slot; one part in any five seconds per robot (its rate's window shortened); leases shorter than that
    # wait, renewed each second.
    gap = 5.0
    monkeypatch.setattr(sender, "WINDOW_SECONDS", gap)
    rates = {"wecom": 1}
    paced = FAST.model_copy(
        update={"notify_concurrency": 1, "notify_rate_per_minute": rates, "notify_lease_seconds": 3.0}
    )

    def resolve(name: str) -> Channel:
        return Channel(name=name, url=urls[name], kind="wecom", source="env")

    runs: dict[str, DrainReport] = {}
    first = threading.Thread(
        target=lambda: runs.update(
            first=drain_outbox(db_url, worker="first", wait_seconds=0, settings=paced, resolve=resolve)
        )
    )
    first.start()
    # The other robots' messages are recorded as sent while the long one still waits for its robot.
    with session_scope(db_url) as s:
        others_ids = set(s.execute(select(OutboxMessage.id).where(OutboxMessage.id != long_id)).scalars())
    _wait_for(lambda: all(_row(db_url, i).status == OutboxStatus.sent for i in others_ids))
    intruder = drain_outbox(db_url, worker="intruder", wait_seconds=0, settings=paced, resolve=resolve)
    first.join(timeout=60)
    assert not first.is_alive()

    assert intruder.rounds == 0  # the waiting message's lease was kept: nothing was up for grabs
    assert runs["first"].total("sent") == others + 1
    arrived = [r.query["key"] for r in robot_sink.messages("wecom")]
    # Its first part went first (claimed first); the others while it waited; then its remaining parts.
    assert arrived[0] == "long-robot" and arrived[-(parts - 1) :] == ["long-robot"] * (parts - 1)
    assert sorted(arrived[1 : 1 + others]) == [f"other-robot-{i}" for i in range(others)]
    long_parts = [r.body["markdown"]["content"] for r in robot_sink.messages("wecom") if r.query["key"] == "long-robot"]
    assert [re.findall(r"（(\d+)/(\d+)）", c) for c in long_parts] == [[(str(n), str(parts))] for n in (1, 2, 3)]
    assert robot_sink.duplicates == 0
    row = _row(db_url, long_id)
    assert (row.status, row.parts_sent, row.attempts) == (OutboxStatus.sent, parts, 1)
    attempts = {a.outbox_id: a for a in delivery_attempts(db_url)}
    assert set(attempts) == others_ids | {long_id} and all(a.worker == "first" and a.ok for a in attempts.values())
    # Spaced as sent: the long message took at least its two waits for the robot.
    assert attempts[long_id].duration_ms >= (parts - 1) * gap * 1000 * 0.95
