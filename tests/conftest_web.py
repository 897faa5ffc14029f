"""A real coop web server on 127.0.0.1 (uvicorn in a thread, ephemeral port) over a planned test database.

Import the `live` fixture in a conftest (`from conftest_web import live`); helpers are importable too.
"""

from __future__ import annotations

import datetime as dt
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn
from conftest import FIXTURES
from sqlalchemy import func, select

from coop.access import Role
from coop.agreement.loader import load_agreement
from coop.calendar import WorkdayCalendar
from coop.planning import calendar_fingerprint, expand
from coop.services.coordinators import issue_coordinator_token
from coop.settings import Settings
from coop.store.access import issue_token
from coop.store.plans import apply_plan
from coop.web import create_app
from models.db import session_scope
from models.tables import Agency, Department, EvidenceFile, LedgerEvent, Occurrence, Report

YUBEI = "渝北区/区委社会工作部"
CHANGSHOU = "长寿区/区委社会工作部"
TUANQUWEI = "渝北区/团区委"
COORDINATOR_TOKEN = "coordinator-test-token-0123456789"
COORDINATOR = "协调人 王五"
PLAN_DAY = dt.date(2026, 3, 1)
# What the `live` fixture leaves before any request: no reports, the plan's ledger events (agreement_planned, then
# sweep_overdue and sweep_due bringing statuses up to date as of PLAN_DAY in the same transaction), no evidence files.
PLANNED = (0, 3, 0)


@dataclass
class Live:
    """A running server and what the tests need to talk to it."""

    url: str
    db_url: str
    settings: Settings
    occurrences: dict[str, int]  # key -> id
    departments: dict[str, int]  # "party/department" -> id
    tokens: dict[str, str]  # "yubei", "changshou", "auditor", "coordinator" (named 协调人 王五) -> bearer token

    def client(self, who: str | None = None, **kwargs: object) -> httpx.Client:
        headers = {}
        if who == "bootstrap":
            headers["Authorization"] = f"Bearer {COORDINATOR_TOKEN}"
        elif who is not None:
            if who == "coordinator" and who not in self.tokens:
                # COOP_COORDINATOR_TOKEN only bootstraps; coordinators act under their own named, ledgered token,
                # issued on first use so tests that never act as coordinator keep their ledger counts.
                self.tokens[who] = issue_coordinator_token(self.db_url, COORDINATOR, None).token
            headers["Authorization"] = f"Bearer {self.tokens[who]}"
        return httpx.Client(base_url=self.url, headers=headers, timeout=60, **kwargs)  # type: ignore[arg-type]


def plan_small(db_url: str) -> dict[str, int]:
    cal = WorkdayCalendar()
    loaded = load_agreement(FIXTURES / "small.yaml")
    with session_scope(db_url) as s:
        apply_plan(s, loaded, expand(loaded, cal, 1000), PLAN_DAY, "tester", calendar_fingerprint(cal))
        return {o.key: o.id for o in s.execute(select(Occurrence)).scalars()}


def departments(db_url: str) -> dict[str, int]:
    with session_scope(db_url) as s:
        rows = s.execute(
            select(Agency.name, Department.name, Department.id).join(Agency, Agency.id == Department.agency_id)
        ).all()
    return {f"{a}/{d}": i for a, d, i in rows}


def web_settings(db_url: str, tmp_path: Path, port: int, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "database_url": db_url,
        "secret_key": "test-secret-key-for-links-0123456789",
        "coordinator_token": COORDINATOR_TOKEN,
        "evidence_dir": tmp_path / "evidence",
        "public_base_url": f"http://127.0.0.1:{port}",
        "agreements_dir": FIXTURES,
        "max_upload_bytes": 64 * 1024,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@contextmanager
def start_server(settings_for_port: Callable[[int], Settings]) -> Iterator[tuple[str, Settings]]:
    """Bind an ephemeral loopback port first (so settings can name it), then serve on that socket."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    settings = settings_for_port(port)
    config = uvicorn.Config(create_app(settings), log_level="warning", lifespan="off", timeout_graceful_shutdown=2)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("coop web server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}", settings
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@pytest.fixture
def live(db_url: str, tmp_path: Path) -> Iterator[Live]:
    """Planned small agreement, department and auditor tokens, and the server running against that database."""
    occurrences = plan_small(db_url)
    depts = departments(db_url)
    with session_scope(db_url) as s:
        tokens = {
            "yubei": issue_token(s, Role.department, YUBEI, YUBEI).token,
            "changshou": issue_token(s, Role.department, CHANGSHOU, CHANGSHOU).token,
            "tuanquwei": issue_token(s, Role.department, TUANQUWEI, TUANQUWEI).token,
            "auditor": issue_token(s, Role.auditor, "审计 张三").token,
        }
    with start_server(lambda port: web_settings(db_url, tmp_path, port)) as (url, settings):
        yield Live(url, db_url, settings, occurrences, depts, tokens)


PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(range(64))


def counts(db_url: str) -> tuple[int, int, int]:
    with session_scope(db_url) as s:
        return (
            s.execute(select(func.count()).select_from(Report)).scalar_one(),
            s.execute(select(func.count()).select_from(LedgerEvent)).scalar_one(),
            s.execute(select(func.count()).select_from(EvidenceFile)).scalar_one(),
        )


def stored_files(live: Live) -> list[Path]:
    root = Path(live.settings.evidence_dir)
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def tamper(db_url: str, sql: str, params: dict[str, object] | None = None) -> None:
    """Change the ledger behind the application's back, as an intruder with database access would.

    On PostgreSQL the append-only trigger (migration 0005) refuses this; a superuser can switch triggers off.
    """
    from sqlalchemy import text

    from models.db import get_engine

    with get_engine(db_url).begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("SET LOCAL session_replication_role = replica")
        conn.execute(text(sql), params or {})
