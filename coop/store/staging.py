"""A first plan's rows prepared outside the writer, so the writer moves them without a Python object per row.

A helper process (`coop.services.staging`) expands new agreements and puts their rows, already in the form the
database stores, where the writer takes them in bulk: on SQLite into a staging file the writer attaches and moves
with one `INSERT … SELECT` per agreement; on PostgreSQL as COPY text the writer sends on with each row's ids in
front. Clause and department ids are the writer's (they are assigned when the plan is written): the staged rows
carry indexes into the plan's own clause and department lists, and the writer maps them. Profiled in bench/: the
writer's per-row work (building and binding a tuple per row) was half its time, and the reading and expanding
beside it shared its interpreter lock.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from array import array
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.dialects.postgresql.psycopg import PGDialect_psycopg
from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite
from sqlalchemy.engine import Dialect
from sqlmodel import Session

from coop.planning import PlannedOccurrence
from coop.store.plans import CREATE_COLUMNS, FirstRows, created_rows, first_rows_of, sequence_ids
from models.db import get_engine
from models.tables import OccurrenceStatus, utcnow

SCHEMA = "coop_stage"  # the name the writer attaches a staging file under
CLAUSE, DEPARTMENT = CREATE_COLUMNS.index("clause_id"), CREATE_COLUMNS.index("department_id")
# PostgreSQL: the COPY's columns, ids first (the writer's), then the staged text in `CREATE_COLUMNS` order.
_TEXT_COLUMNS = [c for c in CREATE_COLUMNS if c not in ("clause_id", "department_id")]
COPY_SQL = f"COPY occurrence (id, clause_id, department_id, {', '.join(_TEXT_COLUMNS)}) FROM STDIN"


@dataclass(frozen=True)
class StagedRows:
    """One new agreement's staged rows and the per-row facts its plan's events and notices need, by row index
    (row i gets the i-th new id). Small: it crosses from the helper process to the writer pickled."""

    count: int
    clauses: tuple[str, ...]  # clause codes; the staged rows name clause i
    departments: tuple[tuple[str, str], ...]  # (party, department); the staged rows name department i
    untracked: list[tuple[int, str]]  # (row, key) of rows created as untracked history
    moved: dict[str, list[int]]  # status → rows written due or overdue
    upcoming: list[tuple[int, int, dt.date, str]]  # (row, department index, due, clause code)
    table: str | None = None  # SQLite: the rows' table in the group's staging file
    lines: bytes = b""  # PostgreSQL: one COPY text line per row, without the ids (see `COPY_SQL`)
    index: bytes = b""  # PostgreSQL: array("i") of each row's clause index then department index


def dialect_named(name: str) -> Dialect:
    """The dialect (with the driver coop uses) whose stored form the staged rows take."""
    if name == "sqlite":
        return SQLiteDialect_pysqlite()
    if name == "postgresql":
        return PGDialect_psycopg()  # type: ignore[no-untyped-call]
    raise ValueError(f"不支持的数据库：{name}")


class Stage:
    """The helper's side of one group of new agreements: a staging SQLite file (SQLite), else nothing (PostgreSQL:
    the rows travel as COPY text). Close it before the writer attaches the file."""

    def __init__(self, dialect_name: str, path: Path | None = None) -> None:
        self.dialect = dialect_named(dialect_name)
        self.path = path
        self.db: sqlite3.Connection | None = None
        self.tables = 0
        if dialect_name == "sqlite":
            if path is None:
                raise ValueError("SQLite 的暂存需要一个文件路径")
            # Scratch data: a crash only means planning again, so no journal and no sync.
            self.db = sqlite3.connect(path, isolation_level=None)
            self.db.execute("PRAGMA journal_mode=OFF")
            self.db.execute("PRAGMA synchronous=OFF")

    def add(
        self,
        agreement_id: str,
        created: list[PlannedOccurrence],
        tracking_from: dt.date | None,
        today: dt.date,
        horizon_days: int,
    ) -> StagedRows:
        """Stage a first plan's rows (every planned occurrence, in plan order) with their statuses as of `today`."""
        clauses = tuple(dict.fromkeys(p.clause for p in created))
        departments = tuple(dict.fromkeys((p.party, p.department) for p in created))
        clause_index = {code: i for i, code in enumerate(clauses)}
        department_index = {pair: i for i, pair in enumerate(departments)}
        statuses: list[str] = []
        rows = created_rows(
            self.dialect,
            agreement_id,
            created,
            clause_index,
            department_index,
            1,
            utcnow(),
            tracking_from,
            today,
            statuses,
            as_text=self.db is None,
        )
        untracked_status = str(OccurrenceStatus.untracked)
        untracked = [
            (i, p.key) for i, (p, s) in enumerate(zip(created, statuses, strict=True)) if s == untracked_status
        ]
        moved, upcoming = first_rows_of(enumerate_rows(created, statuses), department_index, today, horizon_days)
        facts = (len(rows), clauses, departments, untracked, moved, upcoming)
        if self.db is not None:
            table = f"p{self.tables}"
            self.tables += 1
            self.db.execute(f"CREATE TABLE {table} ({', '.join(f'c{i}' for i in range(len(CREATE_COLUMNS)))})")
            self.db.execute("BEGIN")
            self.db.executemany(f"INSERT INTO {table} VALUES ({', '.join('?' * len(CREATE_COLUMNS))})", rows)
            self.db.execute("COMMIT")
            return StagedRows(*facts, table=table)
        index = array("i")
        for row in rows:
            index.append(row[CLAUSE])
            index.append(row[DEPARTMENT])
        return StagedRows(*facts, lines=copy_text(rows), index=index.tobytes())

    def close(self) -> None:
        if self.db is not None:
            self.db.close()
            self.db = None


def enumerate_rows(
    created: list[PlannedOccurrence], statuses: list[str]
) -> Iterator[tuple[int, PlannedOccurrence, str]]:
    """(row index, occurrence, status): `first_rows_of`'s rows with indexes for ids."""
    return ((i, p, s) for i, (p, s) in enumerate(zip(created, statuses, strict=True)))


_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def copy_text(rows: list[tuple[Any, ...]]) -> bytes:
    """PostgreSQL COPY text (tab-separated, `\\N` for NULL, backslash escapes) of `rows` without their clause and
    department columns, one line per row; the writer puts each row's three ids in front (`COPY_SQL`)."""
    # Dates, flags and numbers repeat: each formatted once. Keyed with the type too: True == 1 (and hashes alike),
    # but a flag is `t` and a version 1.
    formatted: dict[tuple[type, Any], str] = {}

    def text(value: Any) -> str:
        if isinstance(value, str):
            return value.translate(_ESCAPES)
        key = (type(value), value)
        done = formatted.get(key)
        if done is None:
            done = formatted[key] = _text(value)
        return done

    keep = [i for i in range(len(CREATE_COLUMNS)) if i not in (CLAUSE, DEPARTMENT)]
    return "\n".join(["\t".join([text(row[i]) for i in keep]) for row in rows]).encode()


def _text(value: Any) -> str:
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dt.date | int):
        return str(value)
    raise TypeError(f"无法写成 COPY 文本的值：{value!r}")


@contextmanager
def attached_session(database_url: str, stage_file: Path | None) -> Iterator[Session]:
    """One transaction on `database_url` (commit on success), with `stage_file` attached as `SCHEMA` when given.

    SQLite attaches a file only outside a transaction: it is attached before the session begins and detached
    after it ends, on the same pooled connection."""
    engine = get_engine(database_url)
    with engine.connect() as conn:
        raw = conn.connection.driver_connection if stage_file is not None else None
        if raw is not None:
            raw.execute(f"ATTACH DATABASE ? AS {SCHEMA}", (str(stage_file),))
        try:
            with Session(bind=conn, expire_on_commit=False) as session, session.begin():
                yield session
        finally:
            if raw is not None:
                conn.rollback()  # nothing open on the connection before it detaches
                raw.execute(f"DETACH DATABASE {SCHEMA}")


def staged_insert(
    staged: StagedRows,
) -> Callable[[Session, dict[str, int], dict[tuple[str, str], int], int], FirstRows]:
    """`apply_first_plan`'s insert for `staged`: the rows move in one statement (SQLite: from the attached staging
    file; PostgreSQL: one COPY with the ids put in front of each staged line)."""

    def insert(
        session: Session, clauses: dict[str, int], departments: dict[tuple[str, str], int], newest: int
    ) -> FirstRows:
        clause_ids = [clauses[code] for code in staged.clauses]
        department_ids = [departments[pair] for pair in staged.departments]
        if staged.table is not None:
            ids = _insert_from_file(session, staged, clause_ids, department_ids, newest)
        else:
            ids = _copy_lines(session, staged, clause_ids, department_ids)
        return FirstRows(
            staged.count,
            [(ids[i], key) for i, key in staged.untracked],
            {status: [ids[i] for i in rows] for status, rows in staged.moved.items()},
            [(ids[i], department_ids[d], due, clause) for i, d, due, clause in staged.upcoming],
        )

    return insert


def _insert_from_file(
    session: Session, staged: StagedRows, clause_ids: list[int], department_ids: list[int], newest: int
) -> range | list[int]:
    """SQLite: the rows in staging order, their clause and department indexes mapped to ids through two small
    temporary tables. New rowids ascend in insert order: `newest` + 1 … when nothing else took ids, else read back."""
    conn = session.connection()
    for name, ids in (("coop_stage_clause", clause_ids), ("coop_stage_department", department_ids)):
        conn.exec_driver_sql(f"CREATE TEMP TABLE IF NOT EXISTS {name} (idx INTEGER PRIMARY KEY, id INTEGER NOT NULL)")
        conn.exec_driver_sql(f"DELETE FROM temp.{name}")
        conn.exec_driver_sql(f"INSERT INTO temp.{name} VALUES (?, ?)", list(enumerate(ids)))
    values = [f"s.c{i}" for i in range(len(CREATE_COLUMNS))]
    values[CLAUSE], values[DEPARTMENT] = "c.id", "d.id"
    conn.exec_driver_sql(
        f"INSERT INTO occurrence ({', '.join(CREATE_COLUMNS)}) SELECT {', '.join(values)} "
        f"FROM {SCHEMA}.{staged.table} AS s CROSS JOIN temp.coop_stage_clause AS c "
        f"CROSS JOIN temp.coop_stage_department AS d WHERE c.idx = s.c{CLAUSE} AND d.idx = s.c{DEPARTMENT} "
        "ORDER BY s.rowid"
    )
    last = conn.exec_driver_sql("SELECT last_insert_rowid()").scalar_one()
    if last == newest + staged.count:
        return range(newest + 1, last + 1)
    agreement = conn.exec_driver_sql(f"SELECT c0 FROM {SCHEMA}.{staged.table} LIMIT 1").scalar_one()
    return list(
        conn.exec_driver_sql(
            "SELECT id FROM occurrence WHERE id > ? AND agreement_id = ? ORDER BY id", (newest, agreement)
        ).scalars()
    )


def _copy_lines(session: Session, staged: StagedRows, clause_ids: list[int], department_ids: list[int]) -> list[int]:
    """PostgreSQL: ids taken from the sequence first (ascending in row order, as `apply_plan`'s COPY takes them),
    then one COPY of the staged lines with each row's id, clause id and department id in front."""
    cursor = session.connection().connection.driver_connection.cursor()  # type: ignore[union-attr]
    ids = sequence_ids(cursor, staged.count)
    index = array("i")
    index.frombytes(staged.index)
    clause_text = [b"%d" % i for i in clause_ids]
    department_text = [b"%d" % i for i in department_ids]
    lines = staged.lines.split(b"\n") if staged.count else []
    data = b"".join(
        [
            b"%d\t%b\t%b\t%b\n" % (oid, clause_text[index[2 * n]], department_text[index[2 * n + 1]], line)
            for n, (oid, line) in enumerate(zip(ids, lines, strict=True))
        ]
    )
    with cursor.copy(COPY_SQL) as sink:
        sink.write(data)
    return ids
