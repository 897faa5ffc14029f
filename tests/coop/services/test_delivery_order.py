"""Issue 16: the next part of a long robot message already under way goes before messages not yet started.

Its robot's next turn (3 s at 20 posts a minute) only starts counting once the part is sent; queued behind every
message claimed meanwhile, a three-part digest ended seconds after everything else had gone.
"""

from __future__ import annotations

import asyncio

from coop.notify.channels import Channel
from coop.services.delivery import _Drain
from coop.settings import Settings


def _no_channel(name: str) -> Channel:
    raise AssertionError(f"nothing is sent here: {name}")


async def _order(first: list[bool]) -> list[int]:
    """With room for one request taken, queue one reservation per entry (True: a resumed part), free the room
    one request at a time, and return the order the reservations got it in."""
    drain = _Drain("sqlite://", "test", 10, Settings(notify_concurrency=1), _no_channel)
    drain.spare = 0  # room for exactly one request under way
    await drain._reserve(1)  # the room is taken
    got: list[int] = []

    async def wait(i: int, resumed: bool) -> None:
        await drain._reserve(1, resumed=resumed)
        got.append(i)

    tasks = [asyncio.create_task(wait(i, resumed)) for i, resumed in enumerate(first)]
    while len(drain.queue) + len(drain.resumed) < len(first):
        await asyncio.sleep(0)
    for _ in first:
        drain._free(1)
        while len(got) < len(first) and drain.sending == 0:
            await asyncio.sleep(0)
        await asyncio.sleep(0)
    await asyncio.gather(*tasks)
    return got


def test_a_resumed_part_goes_before_messages_not_yet_started() -> None:
    # Two new messages queued first, then a resumed part, then another new one, then a second resumed part.
    assert asyncio.run(_order([False, False, True, False, True])) == [2, 4, 0, 1, 3]


def test_without_resumed_parts_the_line_is_first_come_first_served() -> None:
    assert asyncio.run(_order([False, False, False])) == [0, 1, 2]


def test_a_resumed_part_does_not_wait_when_there_is_room() -> None:
    async def run() -> int:
        drain = _Drain("sqlite://", "test", 10, Settings(notify_concurrency=2), _no_channel)
        drain.spare = 0
        await drain._reserve(1)
        queued = asyncio.create_task(drain._reserve(2))  # a message needing two requests: does not fit yet
        while not drain.queue:
            await asyncio.sleep(0)
        # Fits beside the first: goes at once, past the waiting message (waiting would never end: the guard fails it).
        await asyncio.wait_for(drain._reserve(1, resumed=True), 30)
        sending = drain.sending
        queued.cancel()
        return sending

    assert asyncio.run(run()) == 2
