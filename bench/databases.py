"""Throw-away databases for one bench run: SQLite files in the work folder, PostgreSQL databases on 127.0.0.1."""

from __future__ import annotations

import os
import sqlite3
import uuid
from pathlib import Path

import psycopg

from coop.services.schema import upgrade
from coop.ui import copy_sqlite
from models.db import get_engine

PG_ADMIN = os.environ.get("COOP_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
PARENTS = ("agency", "department", "agreement", "programme", "clause")
OCCURRENCE_COLUMNS = (
    "agreement_id",
    "clause_id",
    "key",
    "nominal_date",
    "due_date",
    "window_start",
    "host",
    "department_id",
    "status",
    "provisional",
    "targets",
    "version",
    "updated_at",
    "closed_at",
)


class Databases:
    """Names every database it makes, so `drop_all` leaves the server as it found it.

    Each backend's schema is migrated once (the real Alembic upgrade, into a template); every fresh database is a
    copy of it (SQLite: the file; PostgreSQL: CREATE DATABASE … TEMPLATE), which saves ~20 migrations a run.
    """

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.tag = uuid.uuid4().hex[:8]
        self.pg_names: list[str] = []
        self._templates: dict[str, str] = {}

    def fresh(self, backend: str, name: str) -> str:
        """A new, migrated, empty database; returns its SQLAlchemy URL."""
        template = self._template(backend)
        if backend == "sqlite":
            path = self.workdir / f"{name}.db"
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
            copy_sqlite(Path(template), path)
            return f"sqlite:///{path}"
        db = self._pg_name(name)
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{db}" TEMPLATE "{template}"')
        self.pg_names.append(db)
        return self._pg_url(db)

    def _template(self, backend: str) -> str:
        """The backend's migrated, empty template (a file path, or a PostgreSQL database name), made on first use."""
        if backend in self._templates:
            return self._templates[backend]
        if backend == "sqlite":
            path = self.workdir / "template.sqlite"
            path.unlink(missing_ok=True)
            url = f"sqlite:///{path}"
            upgrade(url)
            get_engine(url).dispose()
            self._templates[backend] = str(path)
        else:
            db = self._pg_name("template")
            with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
                conn.execute(f'CREATE DATABASE "{db}"')
            self.pg_names.append(db)
            url = self._pg_url(db)
            upgrade(url)
            get_engine(url).dispose()  # CREATE DATABASE … TEMPLATE needs the template without sessions
            self._templates[backend] = db
        return self._templates[backend]

    def _pg_name(self, name: str) -> str:
        return f"coop_bench_{self.tag}_{name}".replace("-", "_")

    @staticmethod
    def _pg_url(db: str) -> str:
        return "postgresql+psycopg://" + PG_ADMIN.split("://", 1)[1].rsplit("/", 1)[0] + f"/{db}"

    def drop_all(self) -> None:
        """Every database made so far, templates included (the next `fresh` makes a template again)."""
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            for db in self.pg_names:
                conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        self.pg_names.clear()
        self._templates.clear()


def driver_url(url: str) -> str:
    """The plain-driver form of a SQLAlchemy URL: a file path for sqlite3, a libpq URL for psycopg."""
    if url.startswith("sqlite:///"):
        return url[len("sqlite:///") :]
    return "postgresql://" + url.split("://", 1)[1]


def connect(url: str) -> sqlite3.Connection | psycopg.Connection:
    if url.startswith("sqlite"):
        conn = sqlite3.connect(driver_url(url), isolation_level=None)
        # The same connection settings as the engine's (models/db.py), so both sides pay the same durability.
        for pragma in ("foreign_keys=ON", "journal_mode=WAL", "synchronous=NORMAL"):
            conn.execute(f"PRAGMA {pragma}")
        return conn
    return psycopg.connect(driver_url(url))


def copy_parents(source_url: str, target_url: str) -> None:
    """Agencies, departments, agreements and clauses the occurrence rows point at (not timed)."""
    src = connect(source_url)
    dst = connect(target_url)
    try:
        for table in PARENTS:
            cur = src.execute(f"SELECT * FROM {table} ORDER BY id")
            assert cur.description is not None  # a SELECT always describes its columns
            cols = [d[0] for d in cur.description]
            rows = cur.fetchall()
            marks = ", ".join(["?" if isinstance(dst, sqlite3.Connection) else "%s"] * len(cols))
            if isinstance(dst, sqlite3.Connection):
                dst.execute("BEGIN")
                dst.executemany(f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({marks})", rows)
                dst.execute("COMMIT")
            else:
                with dst.cursor().copy(f"COPY {table} ({', '.join(cols)}) FROM STDIN") as sink:
                    for row in rows:
                        sink.write_row([psycopg.types.json.Json(v) if isinstance(v, (dict, list)) else v for v in row])
                if table != "agreement":  # serial ids; agreement ids are text
                    dst.execute(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"
                    )
                dst.commit()
    finally:
        src.close()
        dst.close()


def occurrence_rows(url: str) -> list[tuple[object, ...]]:
    """Every stored occurrence exactly as the database holds it (text JSON, text enum), in id order."""
    conn = connect(url)
    try:
        if isinstance(conn, sqlite3.Connection):
            return conn.execute(f"SELECT {', '.join(OCCURRENCE_COLUMNS)} FROM occurrence ORDER BY id").fetchall()
        cols = [f"{c}::text" if c in ("status", "targets") else c for c in OCCURRENCE_COLUMNS]
        return conn.execute(f"SELECT {', '.join(cols)} FROM occurrence ORDER BY id").fetchall()
    finally:
        conn.close()
