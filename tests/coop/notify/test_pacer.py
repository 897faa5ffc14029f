"""The robots' line (coop/notify/sender.py `ChannelPacer`): one message at a time per robot, its parts in order,
the robot's gap kept between any two posts — also across a line that emptied and filled again — and nothing kept
once nobody waits (a dispatch run lasts as long as the queue, and meets thousands of robots).

Real asyncio and real time at a fast rate (a 50 ms gap); the assertions are on order, and on gaps as lower bounds
(a loaded machine only makes them longer).
"""

from __future__ import annotations

import asyncio
import time

from coop.notify.sender import ChannelPacer

RATE = 1200  # posts a minute: a 50 ms gap
GAP = 60.0 / RATE
EARLY = 0.005  # a timer may fire this much before its deadline


Post = tuple[str, int, float]


async def send(pacer: ChannelPacer, robot: str, name: str, parts: int, log: list[Post], kind: str = "wecom") -> None:
    """What `Deliverer.deliver` does with its place: wait for each turn, take it right before the post."""
    async with pacer.line(robot, kind) as turns:
        for part in range(1, parts + 1):
            await turns.come()
            turns.take()
            log.append((name, part, time.monotonic()))
            await asyncio.sleep(0)  # the post itself: others may run meanwhile


def gaps(log: list[Post]) -> list[float]:
    return [b[2] - a[2] for a, b in zip(log, log[1:], strict=False)]


def assert_idle(pacer: ChannelPacer) -> None:
    # Nothing per robot is kept once its line is empty and its last turn has passed.
    assert pacer._lines == {} and pacer._queued == {} and pacer._next == {}


def test_messages_to_one_robot_go_one_after_another_with_the_gap_between_every_post() -> None:
    pacer = ChannelPacer({"wecom": RATE})
    log: list[Post] = []

    async def main() -> None:
        await asyncio.gather(
            send(pacer, "r", "A", 3, log), send(pacer, "r", "B", 2, log), send(pacer, "r", "C", 2, log)
        )

    asyncio.run(main())
    assert [(n, p) for n, p, _ in log] == [("A", 1), ("A", 2), ("A", 3), ("B", 1), ("B", 2), ("C", 1), ("C", 2)]
    assert min(gaps(log)) >= GAP - EARLY


def test_a_message_arriving_after_the_line_emptied_still_waits_for_the_robots_turn() -> None:
    pacer = ChannelPacer({"wecom": RATE})
    log: list[Post] = []

    async def main() -> None:
        await send(pacer, "r", "A", 1, log)
        await send(pacer, "r", "B", 1, log)  # the line was empty; the robot's turn had not come yet

    asyncio.run(main())
    assert [n for n, _, _ in log] == ["A", "B"]
    assert gaps(log)[0] >= GAP - EARLY


def test_a_message_joining_while_the_second_sends_waits_for_it() -> None:
    # A and B queue together; C comes once A has left, while B is still sending: C must not run beside B.
    pacer = ChannelPacer({"wecom": RATE})
    log: list[Post] = []

    async def late() -> None:
        while not any(n == "B" for n, _, _ in log):
            await asyncio.sleep(0.001)
        await send(pacer, "r", "C", 2, log)

    async def main() -> None:
        await asyncio.gather(send(pacer, "r", "A", 1, log), send(pacer, "r", "B", 3, log), late())

    asyncio.run(main())
    assert [(n, p) for n, p, _ in log] == [("A", 1), ("B", 1), ("B", 2), ("B", 3), ("C", 1), ("C", 2)]
    assert min(gaps(log)) >= GAP - EARLY


def test_robots_do_not_wait_for_each_other() -> None:
    pacer = ChannelPacer({"wecom": 6})  # a 10 s gap: robot 2 must not wait for robot 1's turn
    log: list[Post] = []

    async def main() -> None:
        await asyncio.gather(send(pacer, "r1", "A", 1, log), send(pacer, "r2", "B", 1, log))

    started = time.monotonic()
    asyncio.run(main())
    assert sorted(n for n, _, _ in log) == ["A", "B"]
    assert all(at - started < 5 for _, _, at in log)


def test_nothing_is_kept_once_the_line_is_empty_and_the_turn_has_passed() -> None:
    pacer = ChannelPacer({"wecom": RATE})
    log: list[Post] = []

    async def post_and_stay(robot: str) -> None:
        async with pacer.line(robot, "wecom") as turns:
            await turns.come()
            turns.take()
            log.append((robot, 1, time.monotonic()))
            await asyncio.sleep(GAP + 0.01)  # still in line when the robot's next turn comes

    async def main() -> None:
        await asyncio.gather(*(send(pacer, f"r{i}", str(i), 2, log) for i in range(5)))
        # Right after the last post each robot's next turn is still ahead: kept, so a newcomer waits for it.
        assert set(pacer._next) == {f"r{i}" for i in range(5)}
        assert pacer._lines == {} and pacer._queued == {}
        await post_and_stay("r0")  # leaves after its turn has passed: that turn is forgotten with the line

    asyncio.run(main())
    assert set(pacer._next) == {f"r{i}" for i in range(1, 5)}
    assert pacer._lines == {} and pacer._queued == {}


def test_an_unpaced_kind_has_no_line_and_keeps_nothing() -> None:
    pacer = ChannelPacer({"wecom": RATE})
    log: list[Post] = []

    async def main() -> None:
        await asyncio.gather(*(send(pacer, "hook", str(i), 2, log, kind="webhook") for i in range(3)))

    started = time.monotonic()
    asyncio.run(main())
    assert len(log) == 6 and all(at - started < GAP for _, _, at in log)
    assert_idle(pacer)


def test_a_message_cancelled_while_waiting_leaves_the_line() -> None:
    pacer = ChannelPacer({"wecom": 6})  # a 10 s gap
    log: list[Post] = []

    async def main() -> None:
        first = asyncio.create_task(send(pacer, "r", "A", 2, log))  # posts part 1, then waits 10 s for part 2
        while not log:
            await asyncio.sleep(0.001)
        second = asyncio.create_task(send(pacer, "r", "B", 1, log))  # waits in line behind A
        await asyncio.sleep(0.05)
        assert pacer._queued == {"r": 2}
        second.cancel()
        first.cancel()
        await asyncio.gather(first, second, return_exceptions=True)

    asyncio.run(main())
    assert [n for n, _, _ in log] == ["A"]
    assert pacer._lines == {} and pacer._queued == {}


def test_a_message_that_leaves_without_posting_leaves_nothing_behind() -> None:
    # E.g. the drain held it back (`ready` said no) before its first post, on a robot nobody has posted to yet.
    pacer = ChannelPacer({"wecom": RATE})

    async def main() -> None:
        async with pacer.line("r", "wecom"):
            pass

    asyncio.run(main())
    assert_idle(pacer)


def test_even_one_post_a_minute_is_a_pace_with_its_line() -> None:
    pacer = ChannelPacer({"wecom": 1})

    async def main() -> None:
        async with pacer.line("r", "wecom") as turns:
            assert turns.gap == 60.0 and pacer._queued == {"r": 1}

    asyncio.run(main())
    assert_idle(pacer)
