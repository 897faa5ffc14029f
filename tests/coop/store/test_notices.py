"""Who is told what: reminder rules per agreement and clause, one decision per milestone."""

from __future__ import annotations

import datetime as dt

from conftest import FIXTURES
from sqlalchemy import select

from coop.agreement.loader import parse_agreement
from coop.calendar import WorkdayCalendar
from coop.planning import calendar_fingerprint, expand
from coop.services.notifications import batch_notices, record_due_notices, record_weekly_digests
from coop.store import notices as store
from coop.store.plans import apply_plan
from models.db import session_scope
from models.tables import Notice, Occurrence, OutboxMessage

CAL = WorkdayCalendar()
TEXT = (FIXTURES / "notify.yaml").read_text(encoding="utf-8")
TODAY = dt.date(2026, 3, 20)


def plan(url: str, text: str) -> None:
    loaded = parse_agreement(text, "notify.yaml")
    with session_scope(url) as s:
        apply_plan(s, loaded, expand(loaded, CAL, 1000), TODAY, "tester", calendar_fingerprint(CAL))


def kinds(url: str) -> dict[str, set[str]]:
    with session_scope(url) as s:
        rows = s.execute(
            select(Occurrence.key, Notice.kind).join(Occurrence, Occurrence.id == Notice.occurrence_id)
        ).all()
    out: dict[str, set[str]] = {}
    for key, kind in rows:
        out.setdefault(key.split("@")[0], set()).add(kind)
    return out


def test_default_rules_tell_about_new_tasks_and_milestones(db_url: str) -> None:
    plan(db_url, TEXT)
    with session_scope(db_url) as s:
        record_due_notices(s, TODAY, CAL)
    found = kinds(db_url)
    assert "planned" in found["1.1"] and "planned" in found["1.2"]
    assert "escalation" in found["1.1"]  # February's training is more than 3 working days overdue


def test_agreement_and_clause_rules_override_the_default(db_url: str) -> None:
    text = TEXT.replace(
        "programmes:\n", "reminders: {before_workdays: [10], notify_on_plan: false}\nprogrammes:\n"
    ).replace(
        "        targets: {suggestions: 20}\n",
        "        targets: {suggestions: 20}\n        reminders: {before_workdays: [2], escalate_after_workdays: 50}\n",
    )
    plan(db_url, text)
    with session_scope(db_url) as s:
        record_due_notices(s, TODAY, CAL)
    found = kinds(db_url)
    assert "planned" not in found.get("1.1", set()) and "planned" not in found.get("1.2", set())
    assert "reminder_t10" in found["1.1"]  # 2026-03-31 is 7 working days after 03-20, inside the 10-day reminder
    assert "escalation" not in found.get("1.2", set())  # clause 1.2 escalates only after 50 working days


def test_unknown_reminder_key_is_a_located_error() -> None:
    import pytest

    from coop.errors import AgreementError

    bad = TEXT.replace("programmes:\n", "reminders: {before_days: [3]}\nprogrammes:\n")
    with pytest.raises(AgreementError, match=r"notify.yaml:\d+: 'reminders.before_days': 未知的键"):
        parse_agreement(bad, "notify.yaml")


def test_batching_twice_renders_each_notice_once(db_url: str) -> None:
    plan(db_url, TEXT)
    with session_scope(db_url) as s:
        record_due_notices(s, TODAY, CAL)
        first = batch_notices(s, TODAY)
        second = batch_notices(s, TODAY)
    assert first.messages > 0 and second.messages == 0 and second.notices == 0


def test_a_digest_too_long_for_a_robot_goes_to_robots_as_a_summary(db_url: str) -> None:
    """Issue 13, finding 7: robots get counts by clause, the most urgent items and a link; e-mail gets it all."""
    kinds_by_channel = {"yubei-wecom": "wecom", "yubei-leader-dingtalk": "dingtalk", "guangan-email": "email"}
    plan(db_url, TEXT)
    with session_scope(db_url) as s:
        record_due_notices(s, TODAY, CAL)
        batch_notices(
            s,
            TODAY,
            kind_of=kinds_by_channel.get,
            list_link=lambda dept: f"http://127.0.0.1:8000/d/list-{dept}",
            robot_parts=0,  # every digest counts as too long here; the real threshold is MAX_ROBOT_PARTS
        )
        rows = s.execute(
            select(OutboxMessage.channel, OutboxMessage.department_id, OutboxMessage.body).where(
                OutboxMessage.recipient_role == "department"
            )
        ).all()
    bodies = {channel: (dept, body) for channel, dept, body in rows}
    dept, robot = bodies["yubei-wecom"]
    assert "【按条款统计】" in robot and f"http://127.0.0.1:8000/d/list-{dept}" in robot
    assert "【最紧急的" in robot and "依据：" not in robot  # items listed in one line each, not in full
    assert "【按条款统计】" not in bodies["guangan-email"][1] and "依据：" in bodies["guangan-email"][1]
    assert "【按条款统计】" not in bodies["changshou-feishu"][1]  # a channel of unknown kind gets the whole digest


def test_a_weekly_overview_too_long_for_a_robot_goes_to_robots_as_a_summary(db_url: str) -> None:
    plan(db_url, TEXT)
    with session_scope(db_url) as s:
        record_weekly_digests(
            s,
            TODAY,
            CAL,
            kind_of={"yubei-wecom": "wecom", "guangan-email": "email"}.get,
            list_link=lambda dept: f"http://127.0.0.1:8000/d/list-{dept}",
            robot_parts=0,
        )
        rows = s.execute(select(OutboxMessage.channel, OutboxMessage.department_id, OutboxMessage.body)).all()
    bodies = {channel: (dept, body) for channel, dept, body in rows}
    dept, robot = bodies["yubei-wecom"]
    assert "【按条款统计】" in robot and f"http://127.0.0.1:8000/d/list-{dept}" in robot
    assert "【按条款统计】" not in bodies["guangan-email"][1]


def test_bulk_inserts_skip_known_keys_keep_order_and_fill_defaults(db_url: str) -> None:
    """Issue 16: from `BULK_FROM` rows on, notices and outbox rows go in through the driver (PostgreSQL: COPY into a
    temporary table, then one INSERT … SELECT … ON CONFLICT; SQLite: one executemany); same outcome as SQLAlchemy's."""
    plan(db_url, TEXT)
    with session_scope(db_url) as s:
        oid, dept = s.execute(select(Occurrence.id, Occurrence.department_id).limit(1)).one()
        before = s.execute(select(Notice.dedup_key)).scalars().all()
    n = store.BULK_FROM + 50
    keys = [f"bulk:{i}" for i in range(n)] + [before[0], "bulk:3"]  # one already decided, one twice in the batch
    rows = [
        {
            "dedup_key": key,
            "occurrence_id": oid,
            "department_id": dept,
            "recipient_role": "department",
            "kind": "reminder_t1",
            "days_overdue": 0,
            "workdays_left": i % 3 or None,
            "escalation_round": None,
            "batched": False,
        }
        for i, key in enumerate(keys)
    ]
    messages = [
        {
            "dedup_key": f"digest:{dept}:department:ch:{i % (n - 1)}",  # the last one repeats the first
            "department_id": dept,
            "recipient_role": "department",
            "channel": "ch",
            "kind": "digest",
            "subject": "主题",
            "body": f"正文 {i}\n第二行\t<b>",
            "notice_count": i,
        }
        for i in range(n)
    ]
    with session_scope(db_url) as s:
        assert store.insert_notices(s, rows) == n
        assert store.insert_outbox(s, messages) == n - 1
    with session_scope(db_url) as s:
        again = store.insert_notices(s, rows[:10])
        added = s.execute(select(Notice).where(Notice.dedup_key.startswith("bulk:")).order_by(Notice.id)).scalars()  # type: ignore[union-attr]
        added = list(added)
        queued = list(s.execute(select(OutboxMessage).order_by(OutboxMessage.id)).scalars())
    assert again == 0
    assert [a.dedup_key for a in added] == [f"bulk:{i}" for i in range(n)]  # in the order given
    assert [a.workdays_left for a in added[:4]] == [None, 1, 2, (n + 1) % 3 or None]  # a repeated key: the last row
    assert all(not a.batched and a.created_at.tzinfo is not None for a in added)
    assert [q.notice_count for q in queued] == [n - 1, *range(1, n - 1)]  # the repeated key: its last row
    first = queued[0]
    assert (first.status, first.attempts, first.parts_sent, first.lease_until, first.body) == (
        "pending",
        0,
        0,
        None,
        f"正文 {n - 1}\n第二行\t<b>",
    )
    assert first.next_attempt_at.tzinfo is not None and first.created_at.tzinfo is not None
