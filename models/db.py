"""Engine and session helper; one engine per URL, SQLite tuned for concurrent readers."""

from __future__ import annotations

import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from urllib.parse import quote

from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlmodel import Session, create_engine

CACHED_ENGINES = 16
_engines: OrderedDict[tuple[object, ...], Engine] = OrderedDict()
_engines_lock = threading.Lock()


def _cached(key: tuple[object, ...], make: Callable[[], Engine]) -> Engine:
    """The most recently used engines, one per key; one pushed out is disposed, so its pooled connections close
    now rather than whenever the garbage collector finds them (a test session makes an engine per SQLite file)."""
    with _engines_lock:
        engine = _engines.pop(key, None) or make()
        _engines[key] = engine
        while len(_engines) > CACHED_ENGINES:
            _engines.popitem(last=False)[1].dispose()
        return engine


def dispose_engines() -> None:
    """Close every cached engine's pooled connections, e.g. before a database is dropped."""
    with _engines_lock:
        while _engines:
            _engines.popitem()[1].dispose()


def get_engine(url: str) -> Engine:
    """The engine for `url` (one per URL, cached); the caller says which database, settings are not read here."""
    return _cached(("read-write", url), lambda: _engine(url))


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
def session_scope(url: str) -> Iterator[Session]:
    """One transaction: commit on success, roll back everything on any error."""
    with Session(get_engine(url), expire_on_commit=False) as session, session.begin():
        yield session


AUDITOR_ROLE = "coop_auditor"


def get_readonly_engine(url: str, switch_role: bool = True) -> Engine:
    """An engine that cannot write, for auditors: SQLite opened mode=ro, PostgreSQL as the SELECT-only role.

    `switch_role=False` is for a dedicated read-only login (COOP_AUDITOR_DATABASE_URL): it need not switch role.
    """
    return _cached(("read-only", url, switch_role), lambda: _readonly_engine(url, switch_role))


def _readonly_engine(url: str, switch_role: bool) -> Engine:
    if url.startswith("sqlite"):
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
def readonly_session_scope(url: str, switch_role: bool = True) -> Iterator[Session]:
    """One read-only transaction (see `get_readonly_engine`); any write fails in the database itself."""
    engine = get_readonly_engine(url, switch_role)
    with Session(engine, expire_on_commit=False, autoflush=False) as session, session.begin():
        yield session
