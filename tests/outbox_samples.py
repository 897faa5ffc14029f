"""Outbox rows for tests that need many due messages on named channels (the sharded dispatcher's tests)."""

from __future__ import annotations

from sqlalchemy import insert, select

from models.db import session_scope
from models.tables import Agency, DeliveryAttempt, Department, OutboxMessage


def queue_messages(url: str, channels: dict[str, int]) -> None:
    """`channels[name]` due digests on each channel, each with its own key, for one department that names them all."""
    with session_scope(url) as s:
        s.execute(insert(Agency), [{"key": "test:渝北区", "name": "渝北区", "full_name": "渝北区"}])
        agency = s.execute(select(Agency.id)).scalar_one()
        department = {"agency_id": agency, "key": "商务委", "name": "商务委", "channels": list(channels)}
        s.execute(insert(Department), [department | {"escalation_channels": []}])
        dept = s.execute(select(Department.id)).scalar_one()
        s.execute(
            insert(OutboxMessage),
            [
                {
                    "dedup_key": f"digest:2026-03-20:{channel}:{i}",
                    "department_id": dept,
                    "recipient_role": "department",
                    "channel": channel,
                    "kind": "digest",
                    "subject": f"【协作通】{channel} 第{i}条提醒",
                    "body": f"- 第2.1条 联合招商推介会，任务编号 #{i}，3月14日截止",
                }
                for channel, n in channels.items()
                for i in range(n)
            ],
        )


def delivery_attempts(url: str) -> list[DeliveryAttempt]:
    """Every delivery attempt recorded, oldest first (detached: readable after the session)."""
    with session_scope(url) as s:
        rows = list(s.execute(select(DeliveryAttempt).order_by(DeliveryAttempt.id)).scalars())
        s.expunge_all()
        return rows
