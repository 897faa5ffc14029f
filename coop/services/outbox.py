"""The coordinator's view of the notification outbox: counts and listings, and dead letters sent again."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from coop.errors import CoopError
from coop.store import outbox as store
from coop.store.outbox import OutboxRow
from models.db import session_scope
from models.tables import OutboxStatus, utcnow


@dataclass(frozen=True)
class OutboxListing:
    """Messages per status, and the newest messages of the status asked for."""

    counts: dict[str, int]
    rows: list[OutboxRow]


def list_outbox(database_url: str, status: str | None = "dead", limit: int = 100) -> OutboxListing:
    """Counts per status and up to `limit` messages of `status` (None: every status), newest first."""
    if status is not None and status not in set(OutboxStatus):
        raise CoopError(f"发件箱状态只能是 {' / '.join(OutboxStatus)}（收到 '{status}'）")
    with session_scope(database_url) as session:
        return OutboxListing(store.status_counts(session), store.list_messages(session, status, max(0, limit)))


@dataclass(frozen=True)
class Requeued:
    """How many dead letters went back to the queue, and which of the ids asked for were not dead letters."""

    count: int
    not_dead: int


def requeue_dead_letters(database_url: str, ids: Sequence[int] | None, actor: str) -> Requeued:
    """Put dead letters (the listed ids, or all) back in the queue; who did it goes to the ledger in the same
    transaction. Naming only ids that are not dead letters is an error, and nothing is written."""
    with session_scope(database_url) as session:
        count = store.requeue_dead(session, list(ids) if ids else None, utcnow(), actor)
    wanted = len(set(ids)) if ids else 0
    if ids and count == 0:
        raise CoopError(f"编号 {', '.join(map(str, sorted(set(ids))))} 都不是死信 (no dead letter with these ids)")
    return Requeued(count, max(0, wanted - count))
