"""The robots' line (coop/notify/sender.py `ChannelPacer`): one message at a time per robot, its parts in order,
never more than the robot's rate in any window (WeCom: "每个机器人发送的消息不能超过20条/分钟", a sliding minute) —
also across a line that emptied and filled again — a burst within the rate at once, and nothing kept once nobody
waits and the robot's window has passed (a dispatch run lasts as long as the queue, and meets thousands of robots).

Real asyncio and real time with a short window (0.3 s) or the real minute; the assertions are on order, on the
spacing of posts as lower bounds (a loaded machine only makes them longer), and, where a post must not wait for a
minute-long window, on it coming well within that minute.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Coroutine
from typing import Any

from coop.notify import sender
from coop.notify.sender import ChannelPacer

RATE = 3  # posts a window
WINDOW = 0.3
EARLY = 0.005  # a timer may fire this much before its deadline
STUCK = 60.0  # a test that should take about a second fails after this rather than hang (a pacer never letting go)


def run(main: Coroutine[Any, Any, None]) -> None:
    asyncio.run(asyncio.wait_for(main, STUCK))


Post = tuple[str, int, float]


async def send(pacer: ChannelPacer, robot: str, name: str, parts: int, log: list[Post], kind: str = "wecom") -> None:
    """What `Deliverer.deliver` does with its place: wait for each turn, take it right before the post."""
    async with pacer.line(robot, kind) as turns:
        for part in range(1, parts + 1):
            await turns.come()
            turns.take()
            log.append((name, part, time.monotonic()))
            await asyncio.sleep(0)  # the post itself: others may run meanwhile
            turns.done()


def assert_within_rate(log: list[Post], rate: int = RATE, window: float = WINDOW) -> None:
    """Any rate + 1 consecutive posts span at least a window: never more than `rate` in one."""
    times = [at for _, _, at in log]
    assert all(b - a >= window - EARLY for a, b in zip(times, times[rate:], strict=False)), times


def assert_idle(pacer: ChannelPacer) -> None:
    # Nothing per robot is kept once its line is empty and its window has passed.
    assert pacer._lines == {} and pacer._queued == {} and pacer._sent == {}


def test_messages_to_one_robot_go_one_after_another_never_more_than_the_rate_in_a_window() -> None:
    pacer = ChannelPacer({"wecom": RATE}, WINDOW)
    log: list[Post] = []

    async def main() -> None:
        await asyncio.gather(
            send(pacer, "r", "A", 3, log), send(pacer, "r", "B", 2, log), send(pacer, "r", "C", 4, log)
        )

    run(main())
    assert [(n, p) for n, p, _ in log] == [
        ("A", 1), ("A", 2), ("A", 3), ("B", 1), ("B", 2), ("C", 1), ("C", 2), ("C", 3), ("C", 4)
    ]  # fmt: skip
    assert_within_rate(log)
    # Paced by the window, not by an even gap: posts 4–6 go as a burst once posts 1–3 have left the window.
    assert log[3][2] - log[0][2] >= WINDOW - EARLY and log[6][2] - log[3][2] >= WINDOW - EARLY


def test_a_burst_within_the_rate_goes_at_once() -> None:
    # The real minute: three parts of a digest to a robot that took nothing this minute do not wait for it.
    pacer = ChannelPacer({"wecom": 20})
    log: list[Post] = []

    async def main() -> None:
        await asyncio.gather(send(pacer, "r", "A", 3, log), send(pacer, "r", "B", 17, log))

    started = time.monotonic()
    run(main())
    assert len(log) == 20 and all(at - started < 30 for _, _, at in log)


def test_the_post_over_the_rate_waits_for_the_window() -> None:
    pacer = ChannelPacer({"wecom": 2}, 60.0)
    log: list[Post] = []

    async def main() -> None:
        late = asyncio.create_task(send(pacer, "r", "A", 3, log))
        while len(log) < 2:
            await asyncio.sleep(0.001)
        await asyncio.sleep(0.05)
        assert [p for _, p, _ in log] == [1, 2]  # the third waits for the first to leave the minute
        late.cancel()
        await asyncio.gather(late, return_exceptions=True)

    run(main())
    assert pacer._lines == {} and pacer._queued == {} and list(pacer._sent) == ["r"]


def test_the_window_counts_from_when_the_robot_answered() -> None:
    # A slow post: the robot may have got it only when it answered, so the next waits a window from then.
    pacer = ChannelPacer({"wecom": 1}, WINDOW)
    answered: list[float] = []

    async def main() -> None:
        async with pacer.line("r", "wecom") as turns:
            await turns.come()
            turns.take()
            await asyncio.sleep(WINDOW / 2)  # the post, slow to be answered
            turns.done()
            answered.append(time.monotonic())
            await turns.come()
            answered.append(time.monotonic())

    run(main())
    assert answered[1] - answered[0] >= WINDOW - EARLY


def test_a_message_arriving_after_the_line_emptied_still_counts_the_robots_window() -> None:
    pacer = ChannelPacer({"wecom": RATE}, WINDOW)
    log: list[Post] = []

    async def main() -> None:
        await send(pacer, "r", "A", RATE, log)
        await send(pacer, "r", "B", 1, log)  # the line was empty; the robot's window was full

    run(main())
    assert [n for n, _, _ in log] == ["A"] * RATE + ["B"]
    assert_within_rate(log)


def test_a_message_joining_while_the_second_sends_waits_for_it() -> None:
    # A and B queue together; C comes once A has left, while B is still sending: C must not run beside B.
    pacer = ChannelPacer({"wecom": RATE}, WINDOW)
    log: list[Post] = []

    async def late() -> None:
        while not any(n == "B" for n, _, _ in log):
            await asyncio.sleep(0.001)
        await send(pacer, "r", "C", 2, log)

    async def main() -> None:
        await asyncio.gather(send(pacer, "r", "A", 1, log), send(pacer, "r", "B", 3, log), late())

    run(main())
    assert [(n, p) for n, p, _ in log] == [("A", 1), ("B", 1), ("B", 2), ("B", 3), ("C", 1), ("C", 2)]
    assert_within_rate(log)


def test_robots_do_not_wait_for_each_other() -> None:
    pacer = ChannelPacer({"wecom": 1}, 60.0)  # robot 2 must not wait for robot 1's minute
    log: list[Post] = []

    async def main() -> None:
        await asyncio.gather(send(pacer, "r1", "A", 1, log), send(pacer, "r2", "B", 1, log))

    started = time.monotonic()
    run(main())
    assert sorted(n for n, _, _ in log) == ["A", "B"]
    assert all(at - started < 30 for _, _, at in log)


def test_nothing_is_kept_once_the_line_is_empty_and_the_window_has_passed() -> None:
    pacer = ChannelPacer({"wecom": RATE}, WINDOW)
    log: list[Post] = []

    async def post_and_stay(robot: str) -> None:
        async with pacer.line(robot, "wecom") as turns:
            await turns.come()
            turns.take()
            log.append((robot, 1, time.monotonic()))
            await asyncio.sleep(WINDOW + 0.01)  # still in line when the post leaves the window

    async def main() -> None:
        await asyncio.gather(*(send(pacer, f"r{i}", str(i), 2, log) for i in range(5)))
        # Right after the last post each robot's window still holds its posts: kept, so a newcomer counts them.
        assert set(pacer._sent) == {f"r{i}" for i in range(5)} and all(len(s) == 2 for s in pacer._sent.values())
        assert pacer._lines == {} and pacer._queued == {}
        await post_and_stay("r0")  # leaves after its window has passed: forgotten with the line

    run(main())
    assert set(pacer._sent) == {f"r{i}" for i in range(1, 5)}
    assert pacer._lines == {} and pacer._queued == {}


def test_a_robots_latest_post_keeps_its_window() -> None:
    # The robot's first post has left the window when the message leaves, its second has not: it is kept.
    pacer = ChannelPacer({"wecom": RATE}, WINDOW)

    async def main() -> None:
        async with pacer.line("r", "wecom") as turns:
            await turns.come()
            turns.take()
            await asyncio.sleep(WINDOW + 0.01)
            await turns.come()
            turns.take()

    run(main())
    assert len(pacer._sent["r"]) == 2


def test_only_the_latest_rate_posts_are_kept() -> None:
    pacer = ChannelPacer({"wecom": 2}, WINDOW)
    log: list[Post] = []

    async def main() -> None:
        await send(pacer, "r", "A", 5, log)
        kept = pacer._sent["r"]  # when posts 4 and 5 were answered (each after it was logged)
        assert len(kept) == 2 and log[3][2] <= kept[0] <= log[4][2] <= kept[1]

    run(main())
    assert_within_rate(log, 2)


def test_an_unpaced_kind_is_not_counted() -> None:
    pacer = ChannelPacer({"wecom": RATE}, 60.0)

    async def main() -> None:
        async with pacer.line("hook", "webhook") as turns:
            assert turns.rate == 0 and pacer._queued == {}
            turns.take()
            assert not turns.sent

    run(main())
    assert_idle(pacer)


def test_an_unpaced_kind_has_no_line_and_keeps_nothing() -> None:
    pacer = ChannelPacer({"wecom": RATE}, 60.0)
    log: list[Post] = []

    async def main() -> None:
        await asyncio.gather(*(send(pacer, "hook", str(i), 4, log, kind="webhook") for i in range(3)))

    started = time.monotonic()
    run(main())
    assert len(log) == 12 and all(at - started < 30 for _, _, at in log)
    # No line either: the messages' posts interleave.
    assert [n for n, _, _ in log[:3]] == ["0", "1", "2"]
    assert_idle(pacer)


def test_a_message_cancelled_while_waiting_leaves_the_line() -> None:
    pacer = ChannelPacer({"wecom": 1}, 60.0)
    log: list[Post] = []

    async def main() -> None:
        first = asyncio.create_task(send(pacer, "r", "A", 2, log))  # posts part 1, then waits a minute for part 2
        while not log:
            await asyncio.sleep(0.001)
        second = asyncio.create_task(send(pacer, "r", "B", 1, log))  # waits in line behind A
        await asyncio.sleep(0.05)
        assert pacer._queued == {"r": 2}
        second.cancel()
        first.cancel()
        await asyncio.gather(first, second, return_exceptions=True)

    run(main())
    assert [n for n, _, _ in log] == ["A"]
    assert pacer._lines == {} and pacer._queued == {}


def test_a_message_that_leaves_without_posting_leaves_nothing_behind() -> None:
    # E.g. the drain held it back (`ready` said no) before its first post, on a robot nobody has posted to yet.
    pacer = ChannelPacer({"wecom": RATE}, WINDOW)

    async def main() -> None:
        async with pacer.line("r", "wecom"):
            pass

    run(main())
    assert_idle(pacer)


def test_even_one_post_a_minute_is_a_pace_with_its_line() -> None:
    pacer = ChannelPacer({"wecom": 1})

    async def main() -> None:
        async with pacer.line("r", "wecom") as turns:
            assert (turns.rate, turns.window) == (1, 60.0) and pacer._queued == {"r": 1}

    run(main())
    assert_idle(pacer)


def test_the_window_is_a_minute_unless_told(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    assert ChannelPacer({})._window == 60.0 == sender.WINDOW_SECONDS
    monkeypatch.setattr(sender, "WINDOW_SECONDS", 2.0)
    assert ChannelPacer({})._window == 2.0 and ChannelPacer({}, 0.5)._window == 0.5
