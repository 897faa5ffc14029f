"""Real databases for every test: a fresh SQLite file, and a fresh PostgreSQL database on 127.0.0.1."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

# Prefect must never phone home from tests, and must not touch the user's ~/.prefect.
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
os.environ.setdefault("PREFECT_SERVER_LOGGING_LEVEL", "WARNING")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")

# Real local peers (robot HTTP sink, SMTP server) as fixtures for every test.
pytest_plugins = ["conftest_peers"]

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / "fixtures"
AGREEMENTS = ROOT / "agreements"
REGISTRY = AGREEMENTS / "organisations.yaml"  # the organisation registry beside the agreements, not an agreement
AGREEMENT_FILES = sorted(p for p in AGREEMENTS.glob("*.yaml") if p != REGISTRY)
ON_DEMAND_PROGRAMME = FIXTURES / "on_demand_programme.yaml-part"


def small_with_on_demand(extra: str = "") -> str:
    """small.yaml with a programme whose clause 9.1 is on demand; `extra` goes on as more clauses of programme 9."""
    small = (FIXTURES / "small.yaml").read_text(encoding="utf-8")
    return small + ON_DEMAND_PROGRAMME.read_text(encoding="utf-8") + extra


PG_ADMIN_URL = os.environ.get("COOP_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


# Under `pytest -n ... --dist loadgroup` (make test), tests that use one of these costly session- or module-scoped
# servers run on one worker, which starts it once; every other test is spread over the workers one by one.
SHARED_SERVERS = {"ui": "coop-ui", "prefect_server": "prefect-server", "browser": "chromium"}


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        fixtures = getattr(item, "fixturenames", ())
        group = next((g for name, g in SHARED_SERVERS.items() if name in fixtures), None)
        if group is not None and item.get_closest_marker("xdist_group") is None:
            item.add_marker(pytest.mark.xdist_group(group))


@pytest.fixture(scope="session", autouse=True)
def _prefect_home(tmp_path_factory: pytest.TempPathFactory) -> None:
    os.environ["PREFECT_HOME"] = str(tmp_path_factory.mktemp("prefect-home"))
    # Unconfigured channels fall back to the local inbox: keep that inbox out of the checkout.
    os.environ["COOP_INBOX_DIR"] = str(tmp_path_factory.mktemp("inbox"))


@pytest.fixture(scope="session")
def pg_server_url() -> Iterator[str]:
    """A throwaway database on the local server; dropped at the end of the session."""
    from sqlalchemy import create_engine, text

    from models.db import AUDITOR_ROLE

    name = f"coop_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
        # Roles are cluster-wide: on a fresh server, two xdist workers migrating at once would both find the
        # auditor role missing (migration 0003) and one would fail creating it. Whoever comes first creates it here.
        conn.execute(
            text(
                f"DO $$ BEGIN CREATE ROLE {AUDITOR_ROLE} NOLOGIN NOSUPERUSER NOINHERIT NOCREATEDB NOCREATEROLE; "
                "EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$"
            )
        )
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    yield url
    from models.db import dispose_engines

    dispose_engines()  # close pooled connections before dropping the database
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _reset_postgres(url: str) -> None:
    from sqlalchemy import inspect, text

    from models.db import get_engine

    engine = get_engine(url)
    tables = [t for t in inspect(engine).get_table_names() if t != "alembic_version"]
    if tables:
        with engine.begin() as conn:
            conn.execute(text("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE"))


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated, empty database; every test that touches the database runs on both engines."""
    from coop.services.schema import upgrade

    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'coop.db'}"
    else:
        url = request.getfixturevalue("pg_server_url")
        if _migrated(url):
            _reset_postgres(url)
    upgrade(url)
    return url


def _migrated(url: str) -> bool:
    from sqlalchemy import inspect

    from models.db import get_engine

    return "alembic_version" in inspect(get_engine(url)).get_table_names()


@pytest.fixture
def db_env(db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Point COOP settings at the test database (for flows and the CLI)."""
    from coop.settings import get_settings

    monkeypatch.setenv("COOP_DATABASE_URL", db_url)
    get_settings.cache_clear()
    yield db_url
    get_settings.cache_clear()


@pytest.fixture(scope="session")
def prefect_server() -> Iterator[None]:
    """One temporary Prefect server (on its own SQLite) for all flow tests."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield
