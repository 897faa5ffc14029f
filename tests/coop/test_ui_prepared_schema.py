"""`make ui` on a new Prefect home starts from Prefect's schema migrated once at `make install` (issue 15).

Real pieces: Prefect's own `prefect server database upgrade` into a scratch home, SQLite files, and a Prefect
server started on a seeded home (it must find nothing to migrate and answer).
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import httpx
import pytest

from coop.ui import UiStack, free_port, prepare_prefect_database, prepared_database


def _head(database: Path) -> str:
    with closing(sqlite3.connect(database)) as db:
        return str(db.execute("SELECT version_num FROM alembic_version").fetchone()[0])


def _tables(database: Path) -> set[str]:
    with closing(sqlite3.connect(database)) as db:
        return {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def test_prepare_runs_prefects_migrations_once_into_a_single_file(tmp_path: Path) -> None:
    target = tmp_path / "schema" / "prefect-test.db"
    assert prepare_prefect_database(target) == target
    # Everything is in the one file (the backup folded the write-ahead log in): a copy alone is complete.
    assert not Path(f"{target}-wal").exists()
    assert {"flow_run", "deployment", "work_pool", "alembic_version"} <= _tables(target)
    assert _head(target)
    assert not list(target.parent.glob(".scratch-*")) and not target.with_suffix(".partial").exists()
    written = target.stat().st_mtime_ns
    assert prepare_prefect_database(target) == target
    assert target.stat().st_mtime_ns == written


@pytest.fixture(scope="module")
def prepared() -> Path:
    """The install's prepared database (`make install` made it; made here if this checkout skipped that)."""
    return prepare_prefect_database()


def test_a_new_home_is_seeded_and_an_existing_one_is_left_alone(tmp_path: Path, prepared: Path) -> None:
    stack = UiStack(home=tmp_path / "home", port=free_port())
    stack.home.mkdir()
    assert stack.seed_prefect_database()
    assert _head(stack.home / "prefect.db") == _head(prepared)

    (stack.home / "prefect.db").write_bytes(b"the operator's own database")
    assert not stack.seed_prefect_database()
    assert (stack.home / "prefect.db").read_bytes() == b"the operator's own database"


def test_a_stack_on_another_database_is_not_seeded(tmp_path: Path, prepared: Path) -> None:
    assert prepared == prepared_database()
    extra = {"PREFECT_API_DATABASE_CONNECTION_URL": "postgresql+asyncpg://postgres@127.0.0.1:5432/prefect"}
    stack = UiStack(home=tmp_path / "home", port=free_port(), extra_env=extra)
    stack.home.mkdir()
    assert not stack.seed_prefect_database()
    assert not (stack.home / "prefect.db").exists()


def test_a_server_on_a_seeded_home_answers_and_keeps_the_schema(tmp_path: Path, prepared: Path) -> None:
    stack = UiStack(home=tmp_path / "home", port=free_port())
    stack.home.mkdir()
    stack.log_dir.mkdir()
    assert stack.seed_prefect_database()
    try:
        stack.start_server()
        stack.wait_healthy()
        pools = httpx.post(f"{stack.api_url}/work_pools/filter", json={}, timeout=30.0)
        assert pools.status_code == 200
    finally:
        stack.stop()
    assert _head(stack.home / "prefect.db") == _head(prepared)
