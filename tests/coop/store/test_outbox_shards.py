"""Issue 16: a delivery run split over processes by destination claims through channel filters — a child only its
channels, the parent every other channel (including channels nobody was assigned) — on both engines."""

from __future__ import annotations

import datetime as dt
import sqlite3

from outbox_samples import queue_messages
from sqlalchemy import update

from coop.store.outbox import (
    CHANNEL_CHUNK,
    MAX_BOUND_CHANNELS,
    ChannelFilter,
    backlog_by_channel,
    claim,
    next_retry_at,
)
from models.db import session_scope
from models.tables import OutboxMessage, OutboxStatus, utcnow

LEASE = 60.0
SQLITE_MAX_VARIABLES = 32_766  # past it, a filter's names must be written into the statement


def _claimed_channels(url: str, worker: str, channels: ChannelFilter | None) -> list[str]:
    with session_scope(url) as s:
        return sorted(m.channel for m in claim(s, worker, 1000, utcnow(), LEASE, channels))


def test_children_claim_their_channels_and_the_parent_everything_else(db_url: str) -> None:
    queue_messages(db_url, {"a-wecom": 2, "b-wecom": 1, "c-wecom": 3, "late-wecom": 1})
    child = ChannelFilter(frozenset({"a-wecom", "b-wecom"}))
    parent = ChannelFilter(frozenset({"a-wecom", "b-wecom"}), include=False)

    assert _claimed_channels(db_url, "parent", parent) == ["c-wecom"] * 3 + ["late-wecom"]  # nobody's: the parent's
    assert _claimed_channels(db_url, "child", child) == ["a-wecom"] * 2 + ["b-wecom"]
    assert _claimed_channels(db_url, "parent", parent) == []
    assert _claimed_channels(db_url, "child", child) == []


def test_next_retry_at_sees_only_the_filtered_channels(db_url: str) -> None:
    queue_messages(db_url, {"a-wecom": 1, "b-wecom": 1})
    now = utcnow()
    soon, later = now + dt.timedelta(seconds=30), now + dt.timedelta(seconds=90)
    with session_scope(db_url) as s:
        s.execute(update(OutboxMessage).where(OutboxMessage.channel == "a-wecom").values(next_attempt_at=soon))
        s.execute(update(OutboxMessage).where(OutboxMessage.channel == "b-wecom").values(next_attempt_at=later))
    only_b = ChannelFilter(frozenset({"b-wecom"}))
    all_but_b = ChannelFilter(frozenset({"b-wecom"}), include=False)
    with session_scope(db_url) as s:
        found = [next_retry_at(s, f) for f in (None, only_b, all_but_b, ChannelFilter(frozenset()))]
    assert [t.replace(tzinfo=None) if t else None for t in found] == [
        soon.replace(tzinfo=None),
        later.replace(tzinfo=None),
        soon.replace(tzinfo=None),
        None,  # an include filter naming nothing sees nothing
    ]


def test_long_filters_are_chunked_and_past_the_bound_limit_written_inline(db_url: str) -> None:
    """SQLite takes at most 32,766 parameters in one statement: a filter longer than that must still work."""
    queue_messages(db_url, {"a-wecom": 1, "b-wecom": 1})
    for extra in (CHANNEL_CHUNK * 2 + 1, MAX_BOUND_CHANNELS + 1, SQLITE_MAX_VARIABLES + 1):
        names = frozenset({"a-wecom"} | {f"x{i}-wecom" for i in range(extra)})
        with session_scope(db_url) as s:
            raw = s.connection().connection.driver_connection
            if isinstance(raw, sqlite3.Connection):  # as SQLite is built by default (Debian's takes 250,000)
                raw.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, SQLITE_MAX_VARIABLES)
            assert [m.channel for m in claim(s, "w", 10, utcnow(), LEASE, ChannelFilter(names))] == ["a-wecom"]
            assert [m.channel for m in claim(s, "w", 10, utcnow(), LEASE, ChannelFilter(names, include=False))] == [
                "b-wecom"
            ]
            s.rollback()


def test_backlog_counts_every_channel_still_to_deliver_and_how_many_are_due(db_url: str) -> None:
    queue_messages(db_url, {"due-wecom": 3, "retry-wecom": 2, "leased-wecom": 1, "sent-wecom": 1, "dead-wecom": 1})
    now = utcnow()
    with session_scope(db_url) as s:
        s.execute(
            update(OutboxMessage)
            .where(OutboxMessage.channel == "retry-wecom", OutboxMessage.dedup_key.endswith(":0"))
            .values(next_attempt_at=now + dt.timedelta(minutes=5))
        )
        s.execute(update(OutboxMessage).where(OutboxMessage.channel == "sent-wecom").values(status=OutboxStatus.sent))
        s.execute(update(OutboxMessage).where(OutboxMessage.channel == "dead-wecom").values(status=OutboxStatus.dead))
    with session_scope(db_url) as s:
        claim(s, "other", 10, now, LEASE, ChannelFilter(frozenset({"leased-wecom"})))  # held, lease running
    with session_scope(db_url) as s:
        backlog = backlog_by_channel(s, utcnow())
    # A leased or not-yet-due message still names its channel: a sharded run must assign it to one process.
    assert backlog == {"due-wecom": 3, "retry-wecom": 1, "leased-wecom": 0}


def test_next_retry_at_sees_the_leases_of_the_filtered_channels_only(db_url: str) -> None:
    """A message being sent is waited for until its lease runs out (its dispatcher may have died), and only by the
    process whose channels it is on; its own retry time is not a pending one's."""
    queue_messages(db_url, {"a-wecom": 1, "b-wecom": 1})
    now = utcnow()
    with session_scope(db_url) as s:
        claim(s, "w", 10, now, LEASE, ChannelFilter(frozenset({"a-wecom"})))  # leased until now + LEASE
        s.execute(
            update(OutboxMessage)
            .where(OutboxMessage.channel == "b-wecom")
            .values(next_attempt_at=now + dt.timedelta(seconds=2 * LEASE))
        )
    only_a, only_b = ChannelFilter(frozenset({"a-wecom"})), ChannelFilter(frozenset({"b-wecom"}))
    everything = ChannelFilter(frozenset(), include=False)  # excludes nothing
    with session_scope(db_url) as s:
        found = [next_retry_at(s, f) for f in (None, everything, only_a, only_b)]
    lease, retry = now + dt.timedelta(seconds=LEASE), now + dt.timedelta(seconds=2 * LEASE)
    assert [t.replace(tzinfo=None) if t else None for t in found] == [
        lease.replace(tzinfo=None),
        lease.replace(tzinfo=None),
        lease.replace(tzinfo=None),
        retry.replace(tzinfo=None),
    ]


def test_a_claim_hands_over_the_parts_already_accepted(db_url: str) -> None:
    queue_messages(db_url, {"a-wecom": 1})
    with session_scope(db_url) as s:
        s.execute(update(OutboxMessage).values(parts_sent=2))
    with session_scope(db_url) as s:
        [claimed] = claim(s, "w", 10, utcnow(), LEASE, ChannelFilter(frozenset(), include=False))
    assert claimed.parts_sent == 2
