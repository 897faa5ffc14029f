"""Outbox bookkeeping on both engines: bulk settling, handing back unsent claims, renewing leases."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import insert, select, text, update

from coop.notify.results import DeliveryResult
from coop.store.outbox import Claimed, claim, release, renew, settle
from models.db import session_scope
from models.tables import Agency, DeliveryAttempt, Department, OutboxMessage, utcnow

LEASE = 60.0


def _fill(url: str, n: int) -> None:
    with session_scope(url) as s:
        s.execute(insert(Agency), [{"key": "test:测试区", "name": "测试区", "full_name": "测试区"}])
        agency = s.execute(select(Agency.id)).scalar_one()
        s.execute(
            insert(Department),
            [{"agency_id": agency, "key": "部门", "name": "部门", "channels": ["c-wecom"], "escalation_channels": []}],
        )
        dept = s.execute(select(Department.id)).scalar_one()
        s.execute(
            insert(OutboxMessage),
            [
                {
                    "dedup_key": f"k:{i}",
                    "department_id": dept,
                    "recipient_role": "department",
                    "channel": "c-wecom",
                    "kind": "digest",
                    "subject": f"第{i}条",
                    "body": "正文",
                }
                for i in range(n)
            ],
        )


def _claim(url: str, worker: str, n: int) -> list[Claimed]:
    with session_scope(url) as s:
        return claim(s, worker, n, utcnow(), LEASE)


def _rows(url: str) -> dict[int, OutboxMessage]:
    with session_scope(url) as s:
        return {m.id: m for m in s.execute(select(OutboxMessage)).scalars()}  # type: ignore[misc]


def test_settle_records_a_mixed_group_in_bulk_and_leaves_a_lost_lease_alone(db_url: str) -> None:
    _fill(db_url, 5)
    ok, retry, dead, perm, lost = _claim(db_url, "w1", 5)  # id order
    with session_scope(db_url) as s:  # another dispatcher took `lost` over (as after a lease ran out)
        s.get(OutboxMessage, lost.id).claimed_by = "w2"  # type: ignore[union-attr]
    now = utcnow()
    results = [
        (ok, DeliveryResult(True, False, 200, "wecom ok"), "wecom", 51),
        (retry, DeliveryResult(False, True, 503, "HTTP 503", retry_after=30.0), "wecom", 52),
        (dead, DeliveryResult(False, True, None, "timeout"), "wecom", 53),  # retryable, but out of attempts
        (perm, DeliveryResult(False, False, 200, "errcode 93000"), "wecom", 54),
        (lost, DeliveryResult(True, False, 200, "wecom ok"), "wecom", 55),
    ]
    with session_scope(db_url) as s:
        s.get(OutboxMessage, dead.id).attempts = 3  # type: ignore[union-attr]
    dead = Claimed(**{**dead.__dict__, "attempt": 3})
    results[2] = (dead, *results[2][1:])

    with session_scope(db_url) as s:
        settled = settle(s, "w1", results, now, max_attempts=3, base=5.0, ceiling=900.0)

    assert [x.outcome for x in settled] == ["sent", "retry", "dead", "dead", "sent"]
    rows = _rows(db_url)
    assert rows[ok.id].status == "sent" and rows[ok.id].sent_at is not None and rows[ok.id].lease_until is None
    assert rows[retry.id].status == "pending" and rows[retry.id].last_error == "HTTP 503"
    assert abs((rows[retry.id].next_attempt_at - now).total_seconds() - 30.0) < 1  # Retry-After beats the 5 s backoff
    assert rows[dead.id].status == "dead" and rows[dead.id].last_error == "timeout"
    assert rows[perm.id].status == "dead" and rows[perm.id].last_error == "errcode 93000"
    assert rows[lost.id].status == "sending" and rows[lost.id].claimed_by == "w2"  # not ours to settle any more
    with session_scope(db_url) as s:
        attempts = s.execute(select(DeliveryAttempt).order_by(DeliveryAttempt.outbox_id)).scalars().all()
    assert [(a.outbox_id, a.ok, a.duration_ms, a.worker) for a in attempts] == [
        (m.id, r.ok, ms, "w1") for m, r, _, ms in sorted(results, key=lambda x: x[0].id)
    ]


def test_release_undoes_only_the_claim_it_names(db_url: str) -> None:
    _fill(db_url, 3)
    mine = _claim(db_url, "w1", 3)
    assert len(mine) == 3
    earlier = utcnow() - dt.timedelta(seconds=1)
    # The third message's lease ran out and it was claimed again, by the same worker: releasing the old
    # claim of it must not undo the new one (the attempt number tells them apart).
    with session_scope(db_url) as s:
        s.get(OutboxMessage, mine[2].id).lease_until = earlier  # type: ignore[union-attr]
    [taken] = _claim(db_url, "w1", 3)
    assert taken.id == mine[2].id and taken.attempt == 2

    with session_scope(db_url) as s:
        release(s, "w1", mine)

    rows = _rows(db_url)
    for m in mine[:2]:
        row = rows[m.id]
        assert (row.status, row.attempts, row.claimed_by, row.lease_until) == ("pending", 0, None, None)
    assert (rows[taken.id].status, rows[taken.id].attempts, rows[taken.id].claimed_by) == ("sending", 2, "w1")
    with session_scope(db_url) as s:  # nor can another dispatcher release it
        release(s, "w2", [taken])
    assert _rows(db_url)[taken.id].status == "sending"
    # Handed back means due at once: the next claim takes them, as a first attempt.
    again = _claim(db_url, "w3", 3)
    assert sorted(m.id for m in again) == sorted(m.id for m in mine[:2]) and {m.attempt for m in again} == {1}


def test_renew_extends_our_leases_and_reports_the_ones_taken_over(db_url: str) -> None:
    _fill(db_url, 3)
    mine = _claim(db_url, "w1", 3)
    assert len(mine) == 3
    with session_scope(db_url) as s:  # all three leases ran out a while ago
        s.execute(update(OutboxMessage).values(lease_until=utcnow() - dt.timedelta(seconds=70)))
    [taken] = _claim(db_url, "w2", 1)  # w2 took the first over
    now = utcnow()

    with session_scope(db_url) as s:
        kept = renew(s, "w1", [m.id for m in mine], now, LEASE)

    assert kept == {m.id for m in mine} - {taken.id}
    rows = _rows(db_url)
    for i in kept:
        assert rows[i].status == "sending" and rows[i].claimed_by == "w1"
        assert abs((rows[i].lease_until - (now + dt.timedelta(seconds=LEASE))).total_seconds()) < 1
    assert rows[taken.id].claimed_by == "w2"
    assert _claim(db_url, "w3", 3) == []  # renewed leases are not up for grabs


def test_a_message_still_backing_off_is_not_claimed(db_url: str) -> None:
    _fill(db_url, 3)
    later = utcnow() + dt.timedelta(seconds=30)  # sooner than the lease of the message claimed meanwhile
    with session_scope(db_url) as s:  # the first two failed and wait for their retry time
        ids = sorted(s.execute(select(OutboxMessage.id)).scalars())
        s.execute(update(OutboxMessage).where(OutboxMessage.id.in_(ids[:2])).values(next_attempt_at=later))  # type: ignore[union-attr]

    assert [m.id for m in _claim(db_url, "w1", 10)] == [ids[2]]
    with session_scope(db_url) as s:  # once their time has come they are claimed
        due = claim(s, "w2", 10, later + dt.timedelta(seconds=1), LEASE)
    assert sorted(m.id for m in due) == ids[:2]


@pytest.mark.parametrize("outcome", ["dead", "retry", "sent"])
def test_a_dispatcher_that_lost_its_lease_cannot_settle_the_new_holders_row(db_url: str, outcome: str) -> None:
    _fill(db_url, 1)
    [old] = _claim(db_url, "w1", 1)
    with session_scope(db_url) as s:  # w1's lease ran out; w2 claimed the message again
        s.get(OutboxMessage, old.id).lease_until = utcnow() - dt.timedelta(seconds=1)  # type: ignore[union-attr]
    [new] = _claim(db_url, "w2", 1)
    assert new.id == old.id and new.attempt == 2
    result = {
        "dead": DeliveryResult(False, False, 200, "errcode 93000"),
        "retry": DeliveryResult(False, True, 503, "HTTP 503"),
        "sent": DeliveryResult(True, False, 200, "ok"),
    }[outcome]

    with session_scope(db_url) as s:
        settle(s, "w1", [(old, result, "wecom", 10)], utcnow(), max_attempts=3, base=5.0, ceiling=900.0)

    row = _rows(db_url)[old.id]
    assert (row.status, row.claimed_by, row.last_error, row.sent_at) == ("sending", "w2", None, None)


# -- mutation-testing survivors (tests/MUTATION.md) -----------------------------------


def _set(url: str, message_id: int, **values: object) -> None:
    with session_scope(url) as s:
        s.execute(update(OutboxMessage).where(OutboxMessage.id == message_id).values(**values))  # type: ignore[arg-type]


def test_settle_clears_what_the_outcome_makes_stale_and_records_each_attempt_whole(db_url: str) -> None:
    _fill(db_url, 4)
    first, second, third, fourth = _claim(db_url, "w1", 4)
    _set(db_url, first.id, last_error="HTTP 503 earlier")  # it had failed before
    now = utcnow() - dt.timedelta(hours=1)  # the attempts are stamped with the settle time, not the insert time
    long = "错" * 1500
    results = [
        (first, DeliveryResult(True, False, 200, "wecom ok"), "wecom", 11),
        (second, DeliveryResult(False, True, 503, "HTTP 503"), "wecom", 12),
        (third, DeliveryResult(False, True, 429, "HTTP 429", retry_after=60.0), "wecom", 13),
        (fourth, DeliveryResult(False, False, None, long), "email", 14),
    ]
    with session_scope(db_url) as s:
        settled = settle(s, "w1", results, now, max_attempts=3, base=5.0, ceiling=900.0)
    assert [x.outcome for x in settled] == ["sent", "retry", "retry", "dead"]
    rows = _rows(db_url)
    assert (rows[first.id].status, rows[first.id].last_error) == ("sent", None)
    # Nobody holds a settled message any more: a retry waits for its time, a dead letter for a person.
    assert [(rows[m.id].status, rows[m.id].lease_until) for m in (second, third, fourth)] == [
        ("pending", None),
        ("pending", None),
        ("dead", None),
    ]
    with session_scope(db_url) as s:
        attempts = s.execute(select(DeliveryAttempt).order_by(DeliveryAttempt.outbox_id)).scalars().all()
    assert [(a.channel_kind, a.ok, a.retryable, a.status_code, a.detail) for a in attempts] == [
        ("wecom", True, False, 200, "wecom ok"),
        ("wecom", False, True, 503, "HTTP 503"),
        ("wecom", False, True, 429, "HTTP 429"),
        ("email", False, False, None, "错" * 1000),  # cut to 1,000 characters
    ]
    assert all(abs((a.at.replace(tzinfo=None) - now.replace(tzinfo=None)).total_seconds()) < 1 for a in attempts)


def test_claim_takes_the_longest_waiting_first_then_by_id(db_url: str) -> None:
    _fill(db_url, 3)
    with session_scope(db_url) as s:
        ids = sorted(s.execute(select(OutboxMessage.id)).scalars())
    earlier = utcnow() - dt.timedelta(minutes=5)
    _set(db_url, ids[2], next_attempt_at=earlier - dt.timedelta(minutes=1))
    for i in reversed(ids[:2]):  # the same time for both, written newest first
        _set(db_url, i, next_attempt_at=earlier)
    assert [m.id for m in _claim(db_url, "w1", 1)] == [ids[2]]
    assert [m.id for m in _claim(db_url, "w1", 1)] == [ids[0]]


def test_claim_boundaries_due_exactly_now_and_lease_ending_exactly_now(db_url: str) -> None:
    _fill(db_url, 2)
    now = utcnow()
    with session_scope(db_url) as s:
        due, leased = sorted(s.execute(select(OutboxMessage.id)).scalars())
    _set(db_url, due, next_attempt_at=now)
    _set(db_url, leased, status="sending", claimed_by="w0", lease_until=now)
    with session_scope(db_url) as s:
        # Due at `now` is due; a lease that ends at `now` still holds.
        assert [m.id for m in claim(s, "w1", 10, now, LEASE)] == [due]


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_a_row_locked_by_another_dispatcher_is_skipped_not_waited_for(db_url: str) -> None:
    _fill(db_url, 2)
    with session_scope(db_url) as first, session_scope(db_url) as second:
        [a] = claim(first, "w1", 1, utcnow(), LEASE)  # its row stays locked until `first` commits
        second.execute(text("SET LOCAL lock_timeout = '5s'"))  # waiting instead of skipping would fail here
        [b] = claim(second, "w2", 1, utcnow(), LEASE)
    assert a.id != b.id


def test_a_claim_carries_the_whole_message_and_its_lease(db_url: str) -> None:
    _fill(db_url, 2)
    now = utcnow()
    with session_scope(db_url) as s:
        dept = s.execute(select(Department.id)).scalar_one()
        ids = sorted(s.execute(select(OutboxMessage.id)).scalars())
        claimed = claim(s, "w1", 10, now, LEASE)
    assert claimed == [
        Claimed(i, f"k:{n}", "c-wecom", f"第{n}条", "正文", 1, dept, "department") for n, i in enumerate(ids)
    ]
    rows = _rows(db_url)
    for i in ids:
        lease = rows[i].lease_until
        assert lease is not None and rows[i].claimed_by == "w1"
        assert abs((lease.replace(tzinfo=None) - now.replace(tzinfo=None)).total_seconds() - LEASE) < 1


def test_settle_keeps_the_parts_a_robot_accepted_for_the_retry_and_the_dead_letter(db_url: str) -> None:
    """A long robot message that failed after some of its parts: the row remembers how many went, so a retry (by any
    dispatcher) resumes after them, and a coordinator re-queueing the dead letter does not repeat them."""
    _fill(db_url, 2)
    retry, dead = _claim(db_url, "w1", 2)
    dead = Claimed(**{**dead.__dict__, "attempt": 3})
    results = [
        (retry, DeliveryResult(False, True, 503, "HTTP 503", parts=2, first_part=0, total_parts=4), "wecom", 10),
        (dead, DeliveryResult(False, False, 200, "errcode 93000", parts=1, first_part=1, total_parts=3), "wecom", 10),
    ]
    with session_scope(db_url) as s:
        settled = settle(s, "w1", results, utcnow(), max_attempts=3, base=5.0, ceiling=900.0)
    assert [x.outcome for x in settled] == ["retry", "dead"]
    rows = _rows(db_url)
    assert (rows[retry.id].status, rows[retry.id].parts_sent) == ("pending", 2)
    assert (rows[dead.id].status, rows[dead.id].parts_sent) == ("dead", 2)
