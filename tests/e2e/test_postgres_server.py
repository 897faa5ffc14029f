"""The scale-out configuration of docs/scale-out.md, exercised here: Prefect's server on PostgreSQL, two workers
in the `coop` work pool, COOP's own data on PostgreSQL — the same prefect.yaml and the same commands as `make ui`.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from conftest import AGREEMENT_FILES, PG_ADMIN_URL
from e2e.driver import PrefectApi
from sqlalchemy import create_engine, text

from coop.store.ledger import verify
from coop.ui import WORK_POOL, UiStack, free_port
from models.db import session_scope

# One UI stack at a time on this 2-core box: this one runs on the worker that runs the coordinators' UI tests.
pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.xdist_group("coop-ui")]


@pytest.fixture
def fresh_databases() -> Iterator[tuple[str, str]]:
    """Two new databases on the local server: one for Prefect's server, one for COOP."""
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    names = [f"prefect_e2e_{uuid.uuid4().hex[:8]}", f"coop_e2e_{uuid.uuid4().hex[:8]}"]
    with admin.connect() as conn:
        for name in names:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    server = PG_ADMIN_URL.rsplit("/", 1)[0].split("://", 1)[1]
    try:
        yield f"postgresql+asyncpg://{server}/{names[0]}", f"postgresql+psycopg://{server}/{names[1]}"
    finally:
        from models.db import dispose_engines

        dispose_engines()  # close pooled connections before dropping
        with admin.connect() as conn:
            for name in names:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_deployments_run_on_a_postgres_backed_server_with_two_workers(
    tmp_path: Path, fresh_databases: tuple[str, str]
) -> None:
    prefect_db, coop_db = fresh_databases
    stack = UiStack(
        home=tmp_path / "prefect",
        port=free_port(),
        workers=2,
        extra_env={
            "PREFECT_API_DATABASE_CONNECTION_URL": prefect_db,
            "COOP_DATABASE_URL": coop_db,
            "PREFECT_WORKER_QUERY_SECONDS": "1",
            "PREFECT_LOGGING_LEVEL": "INFO",
        },
    )
    stack.start()
    api = PrefectApi(stack.api_url)
    try:
        deadline = time.monotonic() + 240  # two workers starting on a loaded box; usually a few seconds
        while len(api.workers(WORK_POOL)) < 2 and time.monotonic() < deadline:
            time.sleep(1)
        assert sorted(w["name"] for w in api.workers(WORK_POOL)) == ["coop-worker-1", "coop-worker-2"]

        planned = api.run("plan-all-agreements", {"today": "2025-01-01"})
        assert planned["state"]["type"] == "COMPLETED", api.logs(planned["id"])
        # Several runs at once, as a shared pool gets them: re-plans of unchanged files and the daily sweep.
        # The run form offers the files as the deployment saw them: relative to the project folder.
        replans = [
            {"agreement": f"agreements/{path.name}", "today": "2025-01-01"}
            for path in AGREEMENT_FILES  # not the organisation registry beside them: the form does not offer it
        ]
        with ThreadPoolExecutor(max_workers=5) as pool:
            runs = list(pool.map(lambda p: api.run("plan-agreement", p), replans))
            runs.append(pool.submit(api.run, "sweep-overdue", {"today": "2025-09-01"}).result())
        assert [r["state"]["type"] for r in runs] == ["COMPLETED"] * len(runs), [api.logs(r["id"]) for r in runs]
        pickers = {line.split("'")[1] for r in runs for line in api.logs(r["id"]) if line.startswith("Worker '")}
        assert pickers <= {"coop-worker-1", "coop-worker-2"} and pickers

        # Prefect's own state is in PostgreSQL ...
        engine = create_engine(prefect_db.replace("+asyncpg", "+psycopg"))
        with engine.connect() as conn:
            states = conn.execute(
                text("SELECT state_type FROM flow_run WHERE id = ANY(CAST(:ids AS uuid[]))"),
                {"ids": [planned["id"], *(r["id"] for r in runs)]},
            ).scalars()
            assert sorted(set(states)) == ["COMPLETED"]
        engine.dispose()
        # ... and so is COOP's: every shipped agreement planned once, an intact ledger.
        with session_scope(coop_db) as session:
            assert session.execute(text("SELECT count(*) FROM agreement")).scalar_one() == len(replans)
            assert session.execute(text("SELECT count(*) FROM occurrence WHERE status = 'overdue'")).scalar_one() > 0
            assert verify(session).ok
    finally:
        api.close()
        stack.stop()
