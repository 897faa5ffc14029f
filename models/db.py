"""Engine and session helper; one engine per URL, SQLite tuned for concurrent readers."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import Session, create_engine


def get_engine(url: str | None = None) -> Engine:
    """The engine for `url`, or for the configured COOP_DATABASE_URL (read at each call, engines cached)."""
    if url is None:
        from coop.settings import get_settings

        url = get_settings().database_url
    return _engine(url)


@lru_cache(maxsize=16)
def _engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record):  # type: ignore[no-untyped-def]
            dbapi_conn.isolation_level = None  # we issue BEGIN ourselves, below
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        @event.listens_for(engine, "begin")
        def _begin(conn):  # type: ignore[no-untyped-def]
            # IMMEDIATE takes the write lock up front: two writers queue instead of deadlocking.
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    return create_engine(url, pool_pre_ping=True)


@contextmanager
def session_scope(url: str | None = None) -> Iterator[Session]:
    """One transaction: commit on success, roll back everything on any error."""
    with Session(get_engine(url), expire_on_commit=False) as session, session.begin():
        yield session


AUDITOR_ROLE = "coop_auditor"


def get_readonly_engine(url: str | None = None, switch_role: bool = True) -> Engine:
    """An engine that cannot write, for auditors: SQLite opened mode=ro, PostgreSQL as the SELECT-only role.

    Without `url`: COOP_AUDITOR_DATABASE_URL (a read-only login, used as given) or else COOP_DATABASE_URL.
    `switch_role=False` is for such a dedicated login: it is already read-only and need not switch role.
    """
    if url is None:
        from coop.settings import get_settings

        settings = get_settings()
        if settings.auditor_database_url:
            return _readonly_engine(settings.auditor_database_url, False)
        url = settings.database_url
    return _readonly_engine(url, switch_role)


@lru_cache(maxsize=16)
def _readonly_engine(url: str, switch_role: bool) -> Engine:
    if url.startswith("sqlite"):
        import sqlite3
        from urllib.parse import quote

        from sqlalchemy.engine import make_url

        path = make_url(url).database
        if not path or path == ":memory:":
            raise ValueError("a read-only SQLite connection needs a database file")
        uri = f"file:{quote(path)}?mode=ro"
        engine = create_engine(
            "sqlite://", creator=lambda: sqlite3.connect(uri, uri=True, timeout=30, check_same_thread=False)
        )

        @event.listens_for(engine, "connect")
        def _readonly_pragmas(dbapi_conn, _record):  # type: ignore[no-untyped-def]
            dbapi_conn.isolation_level = None
            dbapi_conn.execute("PRAGMA query_only=ON")

        @event.listens_for(engine, "begin")
        def _begin_deferred(conn):  # type: ignore[no-untyped-def]
            # One snapshot per transaction, so a report's numbers agree with each other.
            conn.exec_driver_sql("BEGIN")

        return engine
    engine = create_engine(url, pool_pre_ping=True)

    @event.listens_for(engine, "connect")
    def _as_auditor(dbapi_conn, _record):  # type: ignore[no-untyped-def]
        with dbapi_conn.cursor() as cur:
            if switch_role:
                cur.execute(f"SET ROLE {AUDITOR_ROLE}")
            cur.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
        dbapi_conn.commit()

    return engine


@contextmanager
def readonly_session_scope(url: str | None = None, switch_role: bool = True) -> Iterator[Session]:
    """One read-only transaction (see `get_readonly_engine`); any write fails in the database itself."""
    with Session(get_readonly_engine(url, switch_role), expire_on_commit=False, autoflush=False) as session:
        with session.begin():
            yield session
