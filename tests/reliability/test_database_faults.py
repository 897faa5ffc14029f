"""PostgreSQL drops a connection in the middle of a transaction (pg_terminate_backend from another
session): a plan fails cleanly with nothing half-written, and a settle is retried on a fresh connection."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from conftest import FIXTURES
from peers.robot_sink import RobotSink
from reliability.scenario import (
    outbox_keys,
    outbox_status,
    pg_sessions,
    plan,
    plan_and_decide,
    snapshot,
    synthetic_agreement,
    verify_ledger,
    wait_until,
)
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.exc import DBAPIError

from coop.agreement.loader import load_agreement
from coop.services import planning
from coop.services.delivery import drain_outbox
from coop.settings import Settings, get_settings
from models.db import session_scope
from models.tables import DeliveryAttempt, OutboxMessage

pytestmark = [pytest.mark.postgres, pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)]
PLAN_DAY = dt.date(2026, 1, 5)
VICTIM = "coop-db-fault-victim"


def _victim(db_url: str) -> str:
    return f"{db_url}?application_name={VICTIM}"


def _admin(db_url: str, sql: str) -> list[tuple[object, ...]]:
    return pg_sessions(db_url, sql, VICTIM)


def _blocked_backend(db_url: str) -> int | None:
    rows = _admin(
        db_url,
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name = :app "
        "AND wait_event_type = 'Lock'",
    )
    return int(rows[0][0]) if rows else None


def _terminate_when_blocked(db_url: str) -> int:
    """Wait until the victim's transaction waits on our lock, then cut its connection as an operator would."""
    assert wait_until(lambda: _blocked_backend(db_url) is not None, timeout=120), (
        "the victim never reached the locked row"
    )
    pid = _blocked_backend(db_url)
    assert pid is not None
    assert _admin(db_url, f"SELECT pg_terminate_backend({pid})") == [(True,)]
    return pid


@contextmanager
def _row_locked(db_url: str, sql: str) -> Iterator[None]:
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn, conn.begin() as tx:
            conn.execute(text(sql))
            yield
            tx.rollback()
    finally:
        engine.dispose()


class _Thread(threading.Thread):
    """Runs `target` and keeps its result or exception for the test to inspect."""

    def __init__(self, target: Callable[[], Any]) -> None:
        super().__init__(daemon=True)
        self._target_fn = target
        self.result: Any = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.result = self._target_fn()
        except BaseException as exc:  # noqa: BLE001 - the test asserts on it
            self.error = exc


def _big_agreement(tmp_path: Path) -> Path:
    path = tmp_path / "big.yaml"
    path.write_text(synthetic_agreement(clauses=10), encoding="utf-8")
    return path


def test_connection_dropped_mid_plan_fails_cleanly_and_writes_nothing(db_url: str, tmp_path: Path) -> None:
    settings = get_settings()
    plan(db_url, load_agreement(FIXTURES / "small.yaml"), PLAN_DAY)
    before = snapshot(db_url)
    loaded = load_agreement(_big_agreement(tmp_path))
    planned = planning.expand_checked(loaded, settings)
    worker = _Thread(lambda: planning.write(_victim(db_url), loaded, planned, PLAN_DAY, "tester", settings=settings))
    # The plan's last step is the ledger append: holding the ledger head stops it there, everything else written.
    with _row_locked(db_url, "SELECT last_id FROM ledger_head WHERE id = 1 FOR UPDATE"):
        worker.start()
        _terminate_when_blocked(db_url)
    worker.join(timeout=120)
    assert isinstance(worker.error, DBAPIError) and worker.error.connection_invalidated, worker.error
    assert snapshot(db_url) == before
    assert verify_ledger(db_url).ok
    # The same process plans again on a fresh connection (the pool drops the dead one) and succeeds.
    result = planning.write(_victim(db_url), loaded, planned, PLAN_DAY, "tester", settings=settings)
    assert result.created == len(planned) and verify_ledger(db_url).ok


@pytest.mark.slow
@pytest.mark.usefixtures("prefect_server")
def test_plan_flow_fails_cleanly_when_its_connection_drops_and_a_rerun_succeeds(
    db_env: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flows.plan_agreement import plan_agreement

    db_url = db_env
    # The flow reads its database from the settings: the first run's connections carry the victim's name.
    monkeypatch.setenv("COOP_DATABASE_URL", _victim(db_url))
    get_settings.cache_clear()

    plan(db_url, load_agreement(FIXTURES / "small.yaml"), PLAN_DAY)
    before = snapshot(db_url)
    path = str(_big_agreement(tmp_path))
    run = _Thread(lambda: plan_agreement(agreement=path, today=PLAN_DAY, return_state=True))
    with _row_locked(db_url, "SELECT last_id FROM ledger_head WHERE id = 1 FOR UPDATE"):
        run.start()
        _terminate_when_blocked(db_url)
    run.join(timeout=300)
    assert run.error is None and run.result.is_failed()
    # pg_terminate_backend's own words, as psycopg reports them through the failed task
    assert "terminating connection due to administrator command" in str(run.result.message), run.result.message
    assert snapshot(db_url) == before and verify_ledger(db_url).ok
    monkeypatch.setenv("COOP_DATABASE_URL", db_url)
    get_settings.cache_clear()
    again = plan_agreement(agreement=path, today=PLAN_DAY)
    assert again.version == 1 and again.created > 0 and verify_ledger(db_url).ok


def test_connection_dropped_mid_settle_is_retried_and_nothing_is_sent_twice(
    db_url: str, notify_channels: RobotSink
) -> None:
    plan_and_decide(db_url)
    keys = outbox_keys(db_url)
    notify_channels.slow_next(100, seconds=0.5)  # deliveries take a while: time to lock a claimed row
    with session_scope(db_url) as s:
        wecom = s.execute(select(OutboxMessage.id).where(OutboxMessage.channel == "yubei-wecom")).scalar_one()

    def claimed() -> bool:
        with session_scope(db_url) as s:
            return s.get(OutboxMessage, wecom).status == "sending"  # type: ignore[union-attr]

    settings = Settings(
        notify_backoff_seconds=0.05, notify_max_attempts=3, notify_rate_per_minute={}, notify_concurrency=8
    )
    dispatcher = _Thread(lambda: drain_outbox(_victim(db_url), wait_seconds=5, settings=settings))
    dispatcher.start()
    assert wait_until(claimed, timeout=60)
    # Settling the WeCom message now waits for our row lock; its connection is cut while it waits.
    with _row_locked(db_url, f"SELECT id FROM outbox WHERE id = {wecom} FOR UPDATE"):
        _terminate_when_blocked(db_url)
    dispatcher.join(timeout=120)
    assert dispatcher.error is None, dispatcher.error
    assert dispatcher.result.total("sent") == len(keys)
    assert outbox_status(db_url) == {"sent": len(keys)}
    with session_scope(db_url) as s:
        # The interrupted settle left nothing behind; its retry recorded each attempt once.
        assert s.execute(select(func.count()).select_from(DeliveryAttempt)).scalar_one() == len(keys)
        assert set(s.execute(select(OutboxMessage.attempts)).scalars()) == {1}
    assert notify_channels.duplicates == 0
