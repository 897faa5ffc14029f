"""Issue 13, finding 7: a long digest to a group robot keeps within the robot's rate, and a message the robot
refused part-way resumes at its first unsent part — against a sink enforcing WeCom's errcode 45009."""

from __future__ import annotations

import asyncio
import re
import time
from functools import cache

from peers.robot_sink import RobotSink

from coop.notify.channels import MESSAGE_LIMITS, Channel, channel_kind, request_count
from coop.notify.sender import Deliverer, Outgoing

WINDOW = 2.0  # the sink's "minute", shortened so the test runs in seconds; the limit is the real 20
LIMIT = 20
PARTS = 45  # the digest from the issue: 276 items went to WeCom as 45 parts


@cache
def _long_body() -> str:
    """A markdown body that WeCom must take in exactly PARTS numbered parts (the longest such)."""

    def body(lines: int) -> str:
        return "".join(
            f"- 第2.1条 联合招商推介会，任务编号 #{n}，3月14日（星期五）截止，已逾期2个工作日\n" for n in range(lines)
        )

    low, high = 1, 10_000  # parts(low) <= PARTS < parts(high)
    while high - low > 1:
        middle = (low + high) // 2
        if request_count("coop-wecom://k", "周报", body(middle)) <= PARTS:
            low = middle
        else:
            high = middle
    return body(low)


def _message(body: str) -> Outgoing:
    return Outgoing(id=1, key="digest:1:department:yubei-wecom:abc", channel="yubei-wecom", subject="周报", body=body)


def _resolver(url: str):  # type: ignore[no-untyped-def]
    return lambda name: Channel(name=name, url=url, kind=channel_kind(url), source="env")


def _parts(sink: RobotSink) -> list[int]:
    """The part number of every message the group saw, in arrival order."""
    seen = []
    for r in sink.messages("wecom"):
        match = re.search(r"（(\d+)/(\d+)）", r.body["markdown"]["content"])
        assert match is not None and int(match.group(2)) == PARTS
        seen.append(int(match.group(1)))
    return seen


def test_body_is_cut_to_the_robots_limit() -> None:
    body = _long_body()
    assert request_count("coop-wecom://k", "周报", body) == PARTS
    assert len(body.encode()) > (PARTS - 1) * (MESSAGE_LIMITS["wecom"] - 256)


def test_parts_are_paced_within_the_robots_rate(robot_sink: RobotSink) -> None:
    robot_sink.limit_rate(LIMIT, WINDOW)
    # The robot's own rate and window (20 in any 2 s here, as 20 in any minute for the real robots), nothing spare.
    per_minute = {"wecom": LIMIT}

    async def run() -> tuple[bool, int, float]:
        async with Deliverer(_resolver(robot_sink.wecom_url()), 4, per_minute, window=WINDOW) as deliverer:
            started = time.monotonic()
            delivered = await deliverer.deliver(_message(_long_body()))
            assert delivered is not None
            return delivered.result.ok, delivered.result.parts, time.monotonic() - started

    ok, parts, seconds = asyncio.run(run())

    assert ok and parts == PARTS
    assert robot_sink.rate_limited() == []  # the robot never had to refuse
    assert _parts(robot_sink) == list(range(1, PARTS + 1))
    # 20 at once, 20 more once the first have left the window, the last 5 a window after those.
    assert seconds >= (PARTS - 1) // LIMIT * WINDOW * 0.95


def test_a_refused_message_resumes_at_its_first_unsent_part(robot_sink: RobotSink) -> None:
    robot_sink.limit_rate(LIMIT, WINDOW, retry_after=str(WINDOW))

    async def run() -> list[tuple[bool, int, float | None]]:
        outcomes = []
        # No pacing here: the sender overruns the robot, as it did before (45 parts in 175 ms).
        async with Deliverer(_resolver(robot_sink.wecom_url()), 4, {}) as deliverer:
            for _ in range(10):
                delivered = await deliverer.deliver(_message(_long_body()))
                assert delivered is not None
                result = delivered.result
                outcomes.append((result.ok, result.parts, result.retry_after))
                if result.ok:
                    break
                assert result.retryable and result.retry_after == WINDOW and "45009" in result.detail
                while not robot_sink.has_room():  # the outbox would hold the retry back this long
                    await asyncio.sleep(0.05)
        return outcomes

    outcomes = asyncio.run(run())

    assert outcomes[-1][0], outcomes
    # The first attempt got a full window's worth accepted (20); each retry resumed after what was accepted,
    # however many the robot's window had room for by then.
    assert outcomes[0][1] == LIMIT and sum(parts for _, parts, _ in outcomes) == PARTS
    # Every part reached the group exactly once and in order; only the refused ones were posted twice.
    assert _parts(robot_sink) == list(range(1, PARTS + 1))
    assert len(robot_sink.rate_limited("wecom")) == len(outcomes) - 1
