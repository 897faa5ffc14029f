"""Notices and their digests, as rows: what is open and owed, who is reached how, and writing the decisions.

Plain data access taking a Session. Deciding who is told and rendering the messages is
`coop.services.notifications`; the one exception is the plan's own notices (below), which apply the
pure rule in `coop.notify.policy` inside the plan's transaction.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, fields
from enum import Enum
from typing import Any

from sqlalchemy import ColumnElement, Integer, Table, Text, any_, bindparam, cast, select, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.sql.schema import CallableColumnDefault, ScalarElementColumnDefault
from sqlmodel import Session, SQLModel, col

from coop.agreement.reminders import ReminderPolicy
from coop.notify.digest import KIND_LABELS, DigestItem
from coop.notify.policy import plan_notice_rows
from coop.store.queries import join_agreement, join_clause, join_department
from coop.store.rows import insert_new
from models.tables import (
    OPEN_STATUSES,
    Agency,
    AgreementRecord,
    AgreementVersion,
    ClauseRecord,
    Department,
    LedgerEvent,
    Notice,
    Occurrence,
    OutboxMessage,
    ProgrammeRecord,
)

CHUNK = 5000
BULK_FROM = 500
"""PostgreSQL: from this many rows on, inserted through the driver (`_insert_new_bulk`); fewer, through SQLAlchemy."""
Recipient = tuple[str, str, list[str], list[str]]
"""(party, department name, channels, escalation channels)."""


def _id_filters(session: Session, column: Any, ids: Sequence[int], chunk: int = CHUNK) -> Iterator[ColumnElement[bool]]:
    """`column IN ids` as one filter per statement to run: chunks on SQLite (its bound-parameter limit), one
    `= ANY(array)` on PostgreSQL (one round trip, no statement re-rendered per chunk; profiled in bench/)."""
    if session.get_bind().dialect.name == "postgresql":
        if ids:
            yield column == any_(bindparam("ids", list(ids), type_=ARRAY(Integer)))
        return
    for start in range(0, len(ids), chunk):
        yield column.in_(ids[start : start + chunk])


def record_plan_notices(
    session: Session,
    agreement_id: str,
    version: int,
    updated_ids: set[int],
    cancelled: Iterable[tuple[int, dt.date, int, str]],
    today: dt.date,
    horizon_days: int,
    policies: dict[str, ReminderPolicy] | None = None,
    *,
    upcoming: Sequence[tuple[int, int, dt.date, str]] | None = None,
) -> int:
    """Written in the plan's own transaction, so a plan change and the decision to tell people land together.

    `upcoming`: (occurrence, department, due, clause code) of this version's open rows due from today to the
    horizon, when the caller has them already (a first plan); else they are read here."""
    horizon = today + dt.timedelta(days=horizon_days)
    if upcoming is None:
        upcoming = _upcoming(session, agreement_id, version, today, horizon)
    rows = plan_notice_rows(
        [(oid, dept, due, code) for oid, dept, due, code in upcoming],
        updated_ids,
        cancelled,
        today,
        policies or {},
        version=version,
    )
    return _insert_new(session, Notice, rows)


def _upcoming(
    session: Session, agreement_id: str, version: int, today: dt.date, horizon: dt.date
) -> Sequence[tuple[int, int, dt.date, str]]:
    return session.execute(
        select(col(Occurrence.id), col(Occurrence.department_id), col(Occurrence.due_date), col(ClauseRecord.code))
        .join(ClauseRecord, col(ClauseRecord.id) == col(Occurrence.clause_id))
        .where(
            col(Occurrence.agreement_id) == agreement_id,
            col(Occurrence.version) == version,
            col(Occurrence.status).in_(OPEN_STATUSES),
            col(Occurrence.due_date) >= today,
            col(Occurrence.due_date) <= horizon,
        )
    ).all()


def open_occurrences_due_by(
    session: Session, reach: dt.date
) -> Sequence[tuple[int, dt.date, str, int, str, str | None, str]]:
    """(occurrence, due, status, department, agreement, clause lead party, clause code) of open occurrences."""
    rows = session.execute(
        select(
            col(Occurrence.id),
            col(Occurrence.due_date),
            col(Occurrence.status),
            col(Occurrence.department_id),
            col(Occurrence.agreement_id),
            col(ClauseRecord.lead),
            col(ClauseRecord.code),
        )
        .join(ClauseRecord, col(ClauseRecord.id) == col(Occurrence.clause_id))
        .where(col(Occurrence.status).in_(OPEN_STATUSES), col(Occurrence.due_date) <= reach)
        .execution_options(yield_per=5000)
    ).all()
    return [
        (oid, due, str(status), dept, agreement, lead, code) for oid, due, status, dept, agreement, lead, code in rows
    ]


def milestones_told(session: Session, occurrence_ids: Iterable[int]) -> list[tuple[int, str, int | None, str]]:
    """(occurrence, kind, escalation round, dedup key) of every date-driven notice already decided for them."""
    ids = sorted(set(occurrence_ids))
    found: list[tuple[int, str, int | None, str]] = []
    for ids_in in _id_filters(session, col(Notice.occurrence_id), ids):
        rows = session.execute(
            select(
                col(Notice.occurrence_id), col(Notice.kind), col(Notice.escalation_round), col(Notice.dedup_key)
            ).where(
                ids_in,
                col(Notice.recipient_role) == "department",
                col(Notice.kind).not_in(["planned", "changed", "cancelled"]),
            )
        )
        found.extend((oid, kind, rnd, key) for oid, kind, rnd, key in rows)
    return found


def insert_notices(session: Session, rows: Sequence[dict[str, Any]]) -> int:
    """New notice rows; one already decided (same dedup key) is skipped. Returns how many were new."""
    return _insert_new(session, Notice, rows)


def _insert_new(session: Session, model: type[SQLModel], rows: Sequence[dict[str, Any]]) -> int:
    """`insert_new` on the dedup key, or `_insert_new_bulk`: on SQLite always (one executemany, nothing to set up;
    a plan's new-task notices through SQLAlchemy were ~5 % of a first plan's writer, bench/), on PostgreSQL from
    `BULK_FROM` rows on (its temporary table costs more than a few rows save)."""
    dialect = session.get_bind().dialect.name
    if not rows or dialect not in ("sqlite", "postgresql") or (dialect == "postgresql" and len(rows) < BULK_FROM):
        return insert_new(session, model, rows, "dedup_key")
    return _insert_new_bulk(session, model.__table__, rows)  # type: ignore[attr-defined]


def _insert_new_bulk(session: Session, table: Table, rows: Sequence[dict[str, Any]]) -> int:
    """Same rows, order and outcome as `insert_new`, through the driver: on PostgreSQL, COPY into a temporary table
    and one INSERT … SELECT … ON CONFLICT (dedup_key) DO NOTHING; on SQLite, one executemany of INSERT … ON CONFLICT.

    `insert_new` goes through SQLAlchemy's insertmanyvalues, whose 1,000-row statements psycopg re-parses one by one
    (9 s of the province-scale daily run for 34,000 notices, profiled in bench/). Column defaults are filled here,
    a callable one evaluated once for the whole batch (one transaction, one moment); values go through the columns'
    own bind processing (UTC datetimes, booleans), as SQLAlchemy would.
    """
    unique = list({r["dedup_key"]: r for r in rows}.values())
    named = {k for r in unique for k in r}
    columns = [c for c in table.columns if not c.primary_key]
    defaults: dict[str, Any] = {}
    for c in columns:
        if c.name in named:
            continue
        if isinstance(c.default, ScalarElementColumnDefault):
            defaults[c.name] = c.default.arg
        elif isinstance(c.default, CallableColumnDefault):
            defaults[c.name] = c.default.arg(None)  # type: ignore[arg-type]  # no context used
        elif c.nullable:
            defaults[c.name] = None
        else:
            raise ValueError(f"{table.name}.{c.name}: no value and no default")
    dialect = session.get_bind().dialect
    convert = {c.name: f for c in columns if (f := c.type.bind_processor(dialect)) is not None}
    values = {k: convert[k](v) if k in convert else v for k, v in defaults.items()}
    values = {k: v.value if isinstance(v, Enum) else v for k, v in values.items()}
    if convert.keys() & named:
        unique = [{k: convert[k](v) if k in convert else v for k, v in r.items()} for r in unique]
    names = [c.name for c in columns]
    quoted = ", ".join(f'"{n}"' for n in names)
    cursor = session.connection().connection.driver_connection.cursor()  # type: ignore[union-attr]
    tuples = (tuple(row[n] if n in row else values[n] for n in names) for row in unique)
    if dialect.name == "sqlite":
        cursor.executemany(
            f'INSERT INTO "{table.name}" ({quoted}) VALUES ({", ".join("?" * len(names))}) '
            "ON CONFLICT (dedup_key) DO NOTHING",
            tuples,
        )
        return int(cursor.rowcount)
    staged = f"coop_new_{table.name}"
    cursor.execute(
        f'CREATE TEMPORARY TABLE IF NOT EXISTS "{staged}" ON COMMIT DROP AS '
        f'SELECT 0 AS coop_order, {quoted} FROM "{table.name}" WITH NO DATA'
    )
    cursor.execute(f'TRUNCATE "{staged}"')
    with cursor.copy(f'COPY "{staged}" (coop_order, {quoted}) FROM STDIN') as sink:
        for i, row in enumerate(tuples):
            sink.write_row((i, *row))
    cursor.execute(
        f'INSERT INTO "{table.name}" ({quoted}) SELECT {quoted} FROM "{staged}" ORDER BY coop_order '
        "ON CONFLICT (dedup_key) DO NOTHING"
    )
    return int(cursor.rowcount)


def latest_documents(session: Session) -> dict[str, dict[str, Any]]:
    """The current text of every agreement, as planned (reminder rules and coordinators live there)."""
    latest = (
        select(col(AgreementVersion.agreement_id), col(AgreementVersion.document))
        .join(AgreementRecord, col(AgreementRecord.id) == col(AgreementVersion.agreement_id))
        .where(col(AgreementVersion.version) == col(AgreementRecord.version))
    )
    return dict(session.execute(latest).all())


def department_ids(session: Session) -> dict[tuple[str, str], int]:
    """(party name, department name) → department id."""
    return {
        (agency, name): did
        for did, agency, name in session.execute(
            select(col(Department.id), col(Agency.name), col(Department.name)).join(
                Agency, col(Agency.id) == col(Department.agency_id)
            )
        )
    }


def department_names(session: Session) -> dict[int, str]:
    """Department id → `单位部门`, as the dispatch artifact names recipients."""
    return {
        did: f"{agency}{dept}"
        for did, agency, dept in session.execute(
            select(col(Department.id), col(Agency.name), col(Department.name)).join(
                Agency, col(Agency.id) == col(Department.agency_id)
            )
        )
    }


@dataclass(frozen=True, slots=True)
class PendingNotice:
    """A notice not yet in a digest, as batching reads it (plain values: no ORM object per row)."""

    id: int
    dedup_key: str
    occurrence_id: int
    department_id: int
    recipient_role: str
    kind: str
    days_overdue: int
    workdays_left: int | None
    escalation_round: int | None


def claim_pending_notices(session: Session) -> list[PendingNotice]:
    """Notices not yet in a digest, locked so a concurrent run batches each exactly once."""
    rows = session.execute(
        select(*(col(getattr(Notice, f.name)) for f in fields(PendingNotice)))
        .where(col(Notice.batched).is_(False))
        .order_by(col(Notice.id))
        .with_for_update(skip_locked=True)
    )
    return [PendingNotice(*row) for row in rows]


def operation_events(session: Session, event_ids: Iterable[int]) -> dict[int, tuple[str, str, dict[str, Any]]]:
    """Ledger event id → (kind, actor, payload) of the coordinators' operations that notices point at."""
    ids = sorted(set(event_ids))
    out: dict[int, tuple[str, str, dict[str, Any]]] = {}
    for start in range(0, len(ids), CHUNK):
        rows = session.execute(
            select(col(LedgerEvent.id), col(LedgerEvent.kind), col(LedgerEvent.actor), col(LedgerEvent.payload)).where(
                col(LedgerEvent.id).in_(ids[start : start + CHUNK])
            )
        )
        out.update({eid: (kind, actor, json.loads(payload)) for eid, kind, actor, payload in rows})
    return out


def mark_batched(session: Session, notice_ids: Sequence[int]) -> None:
    """Core statements: the ORM's default session sync evaluated the filter on every loaded notice, once per chunk
    (quadratic: 190 s for 68,000 notices, profiled in bench/); the loaded objects are not read again."""
    ids = list(notice_ids)
    table = Notice.__table__  # type: ignore[attr-defined]
    conn = session.connection()
    for ids_in in _id_filters(session, table.c.id, ids):
        conn.execute(update(table).where(ids_in).values(batched=True))


def insert_outbox(session: Session, messages: Sequence[dict[str, Any]]) -> int:
    """New outbox rows; a message already queued (same dedup key) is skipped. Returns how many were new."""
    return _insert_new(session, OutboxMessage, messages)


def recipients(session: Session, department_ids: Iterable[int]) -> dict[int, Recipient]:
    """Department id → (party, department name, channels, escalation channels).

    Departments, then their parties, in two queries: joined, SQLite scanned every party and probed the id list for
    each (0.5–1.5 s for 4,000 departments at province scale, profiled in bench/)."""
    ids = sorted(set(department_ids))
    rows: list[Any] = []
    for ids_in in _id_filters(session, col(Department.id), ids):
        rows += session.execute(
            select(
                col(Department.id),
                col(Department.agency_id),
                col(Department.name),
                col(Department.channels),
                col(Department.escalation_channels),
            ).where(ids_in)
        ).all()
    party: dict[int, str] = dict(
        session.execute(select(col(Agency.id), col(Agency.name)).where(col(Agency.id).in_({r[1] for r in rows}))).all()
    )
    return {r[0]: (party[r[1]], r[2], list(r[3] or []), list(r[4] or [])) for r in rows}


def digest_items(session: Session, occurrence_ids: Iterable[int]) -> dict[int, tuple[int, DigestItem]]:
    """Occurrence → (owing department, everything a reader needs), fetched in chunks, not one query per item.

    Items come as plain plan notices without a report link; the caller says why each is in a message.
    """
    items: dict[int, tuple[int, DigestItem]] = {}
    ids = sorted(set(occurrence_ids))
    parsed: dict[str | None, Any] = {None: None}  # JSON columns as text, each distinct value decoded once

    def decoded(text: str | None) -> Any:
        if text not in parsed:
            parsed[text] = json.loads(text) if text is not None else None
        return parsed[text]

    for ids_in in _id_filters(session, col(Occurrence.id), ids, 2000):
        # Columns, not ORM entities: building two objects per row cost more than the query (profiled in bench/).
        rows = session.execute(
            join_department(
                join_agreement(
                    join_clause(
                        select(
                            col(Occurrence.id),
                            col(Occurrence.department_id),
                            col(Occurrence.due_date),
                            col(Occurrence.window_start),
                            col(Occurrence.host),
                            col(Occurrence.location),
                            cast(col(Occurrence.targets), Text),
                            col(Occurrence.provisional),
                            col(ClauseRecord.code),
                            col(ClauseRecord.title),
                            col(ClauseRecord.kind),
                            col(ClauseRecord.location),
                            cast(col(ClauseRecord.evidence), Text),
                            col(ProgrammeRecord.title),
                            col(AgreementRecord.title),
                            col(Agency.name),
                            col(Department.name),
                            cast(col(AgreementRecord.metric_labels), Text),
                        )
                    ).join(
                        ProgrammeRecord,
                        (col(ProgrammeRecord.agreement_id) == col(ClauseRecord.agreement_id))
                        & (col(ProgrammeRecord.code) == col(ClauseRecord.programme_code)),
                    )
                )
            ).where(ids_in)
        ).all()
        for (
            oid,
            department_id,
            due_date,
            window_start,
            host,
            location,
            targets,
            provisional,
            code,
            clause_title,
            kind,
            clause_location,
            evidence,
            programme_title,
            agreement_title,
            party,
            dept,
            labels,
        ) in rows:
            items[oid] = (
                department_id,
                DigestItem(
                    occurrence_id=oid,
                    agreement_title=agreement_title,
                    programme_title=programme_title,
                    clause_id=code,
                    clause_title=clause_title,
                    kind_label=KIND_LABELS.get(kind, kind),
                    due_date=due_date,
                    window_start=window_start,
                    host=host,
                    location=location or clause_location,
                    evidence=list(decoded(evidence)),
                    targets=dict(decoded(targets)),
                    provisional=provisional,
                    notice="planned",
                    days_overdue=0,
                    report_url=None,
                    responsible=f"{party}/{dept}",
                    metric_labels=dict(decoded(labels) or {}),
                ),
            )
    return items


def open_occurrences_due_before(session: Session, horizon: dt.date) -> Sequence[tuple[int, int, dt.date]]:
    """(occurrence, department, due) of every open occurrence due before `horizon`, overdue ones included."""
    rows = session.execute(
        select(col(Occurrence.id), col(Occurrence.department_id), col(Occurrence.due_date)).where(
            col(Occurrence.status).in_(OPEN_STATUSES),
            col(Occurrence.due_date) < horizon,
        )
    ).all()
    return [(oid, dept, due) for oid, dept, due in rows]


def channel_references(session: Session) -> set[str]:
    """Every channel name some department is reached by (for configuration checks and the demo)."""
    names: set[str] = set()
    for channels, escalation in session.execute(select(col(Department.channels), col(Department.escalation_channels))):
        names.update(channels or [], escalation or [])
    return names
