"""Write a plan: agencies, departments, clauses and occurrences, in bulk, with ledger events."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlmodel import Session

from coop.agreement.loader import LoadedAgreement
from coop.agreement.schema import Party
from coop.ledger import EventDraft
from coop.planning import PlanDiff, PlannedOccurrence, StoredOccurrence, diff
from coop.settings import get_settings
from coop.store import ledger
from coop.store.notices import clause_policies, record_plan_notices
from models.tables import (
    Agency,
    AgreementRecord,
    AgreementVersion,
    ClauseRecord,
    Department,
    Occurrence,
    OccurrenceStatus,
    ProgrammeRecord,
    utcnow,
)

BATCH = 5000


@dataclass
class PlanResult:
    agreement_id: str
    version: int
    unchanged: bool
    created: int = 0
    updated: int = 0
    cancelled: int = 0
    kept: int = 0
    changes: list[dict[str, str]] = field(default_factory=list)


def plan_fingerprint(loaded: LoadedAgreement, calendar_fingerprint: str) -> str:
    """Content plus calendar: new official holiday data must re-plan even an unchanged file."""
    return hashlib.sha256(f"{loaded.content_hash}:{calendar_fingerprint}".encode()).hexdigest()


def apply_plan(
    session: Session,
    loaded: LoadedAgreement,
    planned: list[PlannedOccurrence],
    today: dt.date,
    actor: str,
    calendar_fingerprint: str,
) -> PlanResult:
    """Caller owns the transaction: either the whole plan lands or nothing does."""
    agreement = loaded.agreement
    fingerprint = plan_fingerprint(loaded, calendar_fingerprint)
    record = session.get(AgreementRecord, agreement.id, with_for_update=True)
    if record is not None and record.content_hash == fingerprint:
        return PlanResult(agreement.id, record.version, unchanged=True, kept=len(planned))

    content_changed = record is None or not _version_exists(session, agreement.id, loaded.content_hash)
    version = 1 if record is None else record.version + (1 if content_changed else 0)
    record = _upsert_agreement(session, record, loaded, version, fingerprint)
    if content_changed:
        session.add(
            AgreementVersion(
                agreement_id=agreement.id,
                version=version,
                content_hash=loaded.content_hash,
                document=agreement.model_dump(mode="json", exclude_unset=True),  # keeps which rules were written
            )
        )
    departments = _upsert_parties(session, loaded)
    clauses = _upsert_clauses(session, loaded)
    stored = _stored_occurrences(session, agreement.id)
    plan = diff(planned, stored, active_clauses=set(clauses), today=today)
    _write_occurrences(session, agreement.id, plan, clauses, departments, version)
    _decide_notices(session, loaded, version, plan, stored, departments, today)

    result = PlanResult(
        agreement.id,
        version,
        unchanged=False,
        created=len(plan.create),
        updated=len(plan.update),
        cancelled=len(plan.cancel),
        kept=plan.kept,
    )
    result.changes = _describe(plan, stored)
    ledger.append(session, _events(agreement.id, actor, version, loaded.content_hash, plan, planned, stored))
    return result


def _version_exists(session: Session, agreement_id: str, content_hash: str) -> bool:
    found = session.execute(
        select(AgreementVersion.id).where(
            AgreementVersion.agreement_id == agreement_id, AgreementVersion.content_hash == content_hash
        )
    ).first()
    return found is not None


def _upsert_agreement(
    session: Session, record: AgreementRecord | None, loaded: LoadedAgreement, version: int, fingerprint: str
) -> AgreementRecord:
    a = loaded.agreement
    values = dict(
        title=a.title,
        signed=a.signed,
        term_start=a.term.start,
        term_end=a.term.end,
        source=a.source,
        path=loaded.path,
        version=version,
        content_hash=fingerprint,
        planned_at=utcnow(),
    )
    if record is None:
        record = AgreementRecord(id=a.id, **values)
    else:
        for k, v in values.items():
            setattr(record, k, v)
    session.add(record)
    session.flush()
    return record


def _upsert_parties(session: Session, loaded: LoadedAgreement) -> dict[tuple[str, str], int]:
    """Agencies are shared across agreements; their departments' contacts follow the latest plan.

    Core statements, one per kind of change: building SQLModel objects row by row cost ~0.5 ms each.
    """
    parties = loaded.agreement.parties
    agency_ids = _agency_ids(session, parties)
    existing = {
        (r.agency_id, r.name): r
        for r in session.execute(
            select(
                Department.id,
                Department.agency_id,
                Department.name,
                Department.leader,
                Department.contact,
                Department.channels,
                Department.escalation_channels,
            ).where(Department.agency_id.in_(set(agency_ids.values())))  # type: ignore[attr-defined]
        )
    }
    ids: dict[tuple[str, str], int] = {}
    new_rows, changed = [], []
    for party in parties:
        agency_id = agency_ids[party.name]
        for dept in party.departments:
            values = dict(
                leader=dept.leader,
                contact=dept.contact,
                channels=list(dept.channels),
                escalation_channels=list(dept.escalation_channels),
            )
            row = existing.get((agency_id, dept.name))
            if row is None:
                new_rows.append(dict(agency_id=agency_id, name=dept.name, **values))
                continue
            ids[(party.name, dept.name)] = row.id
            if (row.leader, row.contact, list(row.channels or []), list(row.escalation_channels or [])) != tuple(
                values.values()
            ):
                changed.append(dict(values, department_id=row.id))
    if changed:
        stmt = update(Department.__table__).where(Department.__table__.c.id == bindparam("department_id"))  # type: ignore[attr-defined]
        session.connection().execute(stmt, changed)
    if new_rows:
        session.execute(insert(Department), new_rows)
        wanted = {(r["agency_id"], r["name"]) for r in new_rows}
        names = {agency_id: party for party, agency_id in agency_ids.items()}
        for did, agency_id, name in session.execute(
            select(Department.id, Department.agency_id, Department.name).where(
                Department.agency_id.in_({a for a, _ in wanted})  # type: ignore[attr-defined]
            )
        ):
            if (agency_id, name) in wanted:
                ids[(names[agency_id], name)] = did
    return ids


def _agency_ids(session: Session, parties: list[Party]) -> dict[str, int]:
    names = [p.name for p in parties]
    found = {
        r.name: r
        for r in session.execute(select(Agency.id, Agency.name, Agency.full_name).where(Agency.name.in_(names)))  # type: ignore[attr-defined]
    }
    missing = [dict(name=p.name, full_name=p.full_name) for p in parties if p.name not in found]
    for p in parties:
        row = found.get(p.name)
        if row is not None and p.full_name and row.full_name != p.full_name:
            session.execute(update(Agency).where(Agency.id == row.id).values(full_name=p.full_name))  # type: ignore[arg-type]
    if missing:
        session.execute(insert(Agency), missing)
        found = {
            r.name: r
            for r in session.execute(select(Agency.id, Agency.name, Agency.full_name).where(Agency.name.in_(names)))  # type: ignore[attr-defined]
        }
    return {name: row.id for name, row in found.items()}


def _upsert_clauses(session: Session, loaded: LoadedAgreement) -> dict[str, int]:
    """Programmes and clauses follow the text; clauses no longer in it stay, marked inactive, for history."""
    agreement = loaded.agreement
    programmes = {
        r.code: r
        for r in session.execute(
            select(ProgrammeRecord.id, ProgrammeRecord.code, ProgrammeRecord.title).where(
                ProgrammeRecord.agreement_id == agreement.id
            )
        )
    }
    new_programmes = [
        dict(agreement_id=agreement.id, code=p.id, title=p.title)
        for p in agreement.programmes
        if p.id not in programmes
    ]
    for p in agreement.programmes:
        if p.id in programmes and programmes[p.id].title != p.title:
            session.execute(
                update(ProgrammeRecord).where(ProgrammeRecord.id == programmes[p.id].id).values(title=p.title)
            )  # type: ignore[arg-type]
    if new_programmes:
        session.execute(insert(ProgrammeRecord), new_programmes)

    fields = (
        "programme_code",
        "title",
        "text",
        "kind",
        "lead",
        "co_organisers",
        "rotate",
        "location",
        "targets",
        "evidence",
        "recurrence",
        "active",
    )
    table = ClauseRecord.__table__  # type: ignore[attr-defined]
    stored = {
        r.code: r
        for r in session.execute(
            select(table.c.id, table.c.code, *(table.c[f] for f in fields)).where(table.c.agreement_id == agreement.id)
        )
    }
    new_rows, changed = [], []
    seen: set[str] = set()
    for programme in agreement.programmes:
        for clause in programme.clauses:
            seen.add(clause.id)
            values = dict(
                programme_code=programme.id,
                title=clause.title,
                text=clause.text,
                kind=clause.kind,
                lead=clause.lead,
                co_organisers=list(clause.co_organisers),
                rotate=list(clause.rotate),
                location=clause.location,
                targets=dict(clause.targets),
                evidence=list(clause.evidence),
                recurrence=clause.recurrence.model_dump(mode="json", exclude_none=True),
                active=True,
            )
            row = stored.get(clause.id)
            if row is None:
                new_rows.append(dict(values, agreement_id=agreement.id, code=clause.id))
            elif tuple(getattr(row, f) for f in fields) != tuple(values.values()):
                changed.append(dict(values, clause_id=row.id))
    for code, row in stored.items():
        if code not in seen and row.active:
            changed.append({**{f: getattr(row, f) for f in fields}, "active": False, "clause_id": row.id})
    if changed:
        session.connection().execute(update(table).where(table.c.id == bindparam("clause_id")), changed)
    if new_rows:
        session.execute(insert(ClauseRecord), new_rows)
    ids = session.execute(
        select(table.c.code, table.c.id).where(table.c.agreement_id == agreement.id, table.c.active.is_(True))
    )
    return {code: cid for code, cid in ids if code in seen}


def _stored_occurrences(session: Session, agreement_id: str) -> list[StoredOccurrence]:
    rows = session.execute(
        select(
            Occurrence.id,
            Occurrence.key,
            Occurrence.status,
            ClauseRecord.code,
            Occurrence.due_date,
            Occurrence.window_start,
            Occurrence.host,
            Agency.name,
            Department.name,
            Occurrence.provisional,
            Occurrence.targets,
        )
        .join(ClauseRecord, ClauseRecord.id == Occurrence.clause_id)
        .join(Department, Department.id == Occurrence.department_id)
        .join(Agency, Agency.id == Department.agency_id)
        .where(Occurrence.agreement_id == agreement_id)
        .execution_options(yield_per=BATCH)
    )
    return [
        StoredOccurrence(
            id=r[0],
            key=r[1],
            status=str(r[2]),
            clause=r[3],
            due_date=r[4],
            comparable=(r[4], r[5], r[6], r[7], r[8], r[9], r[10]),
        )
        for r in rows
    ]


def _row(
    p: PlannedOccurrence, clauses: dict[str, int], departments: dict[tuple[str, str], int], version: int
) -> dict[str, object]:
    return dict(
        clause_id=clauses[p.clause],
        key=p.key,
        nominal_date=p.nominal_date,
        due_date=p.due_date,
        window_start=p.window_start,
        host=p.host,
        department_id=departments[(p.party, p.department)],
        provisional=p.provisional,
        targets=dict(p.targets),
        version=version,
    )


def _write_occurrences(
    session: Session,
    agreement_id: str,
    plan: PlanDiff,
    clauses: dict[str, int],
    departments: dict[tuple[str, str], int],
    version: int,
) -> None:
    now = utcnow()
    if plan.create:
        _insert_created(session, agreement_id, plan.create, clauses, departments, version, now)
    if plan.update:
        stmt = (
            update(Occurrence.__table__)  # type: ignore[attr-defined]
            .where(Occurrence.__table__.c.id == bindparam("oid"))  # type: ignore[attr-defined]
            .values(
                clause_id=bindparam("clause_id"),
                due_date=bindparam("due_date"),
                window_start=bindparam("window_start"),
                host=bindparam("host"),
                department_id=bindparam("department_id"),
                provisional=bindparam("provisional"),
                targets=bindparam("targets"),
                version=bindparam("version"),
                updated_at=bindparam("updated_at"),
            )
        )
        params = []
        for oid, p in plan.update:
            row = _row(p, clauses, departments, version)
            row.pop("key"), row.pop("nominal_date")
            params.append({**row, "oid": oid, "updated_at": now})
        session.connection().execute(stmt, params)
    if plan.cancel:
        ids = [oid for oid, _ in plan.cancel]
        for start in range(0, len(ids), BATCH):
            session.execute(
                update(Occurrence)
                .where(Occurrence.id.in_(ids[start : start + BATCH]))  # type: ignore[union-attr]
                .values(status=OccurrenceStatus.cancelled, updated_at=now, closed_at=now)
            )
    session.flush()


_CREATE_COLUMNS = (
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
)


class _Converted(dict[Any, Any]):
    """Database form of each distinct value, converted once: a million rows hold a few thousand dates."""

    def __init__(self, convert: Callable[[Any], Any]) -> None:
        super().__init__()
        self.convert = convert

    def __missing__(self, value: Any) -> Any:
        converted = self[value] = self.convert(value)
        return converted


def _insert_created(
    session: Session,
    agreement_id: str,
    created: list[PlannedOccurrence],
    clauses: dict[str, int],
    departments: dict[tuple[str, str], int],
    version: int,
    now: dt.datetime,
) -> None:
    """The bulk path of a first plan: rows go to the driver as plain tuples (COPY on PostgreSQL).

    Per-row ORM/Core parameter processing cost more than the database itself (profiled in bench/);
    values are converted with SQLAlchemy's own bind processors, once per distinct value, so the
    stored form is exactly what `insert(Occurrence)` would have written.
    """
    conn = session.connection()
    dialect = conn.dialect
    table = Occurrence.__table__  # type: ignore[attr-defined]

    def processor(name: str) -> Callable[[Any], Any]:
        proc = table.c[name].type.dialect_impl(dialect).bind_processor(dialect)
        return proc or (lambda v: v)

    day = _Converted(processor("due_date"))

    copy = dialect.name == "postgresql" and dialect.driver == "psycopg"
    # COPY takes text for the JSON column; psycopg's Json would serialise with json.dumps too.
    targets_proc = (lambda v: json.dumps(v)) if copy else processor("targets")
    targets_of: dict[str, Any] = {}
    status, updated_at, provisional = (
        processor("status")("planned"),
        processor("updated_at")(now),
        processor("provisional"),
    )
    flags = {True: provisional(True), False: provisional(False)}
    rows = []
    for p in created:
        targets = targets_of.get(p.clause)
        if targets is None:
            targets = targets_of[p.clause] = targets_proc(dict(p.targets))
        rows.append(
            (
                agreement_id,
                clauses[p.clause],
                p.key,
                day[p.nominal_date],
                day[p.due_date],
                day[p.window_start],
                p.host,
                departments[(p.party, p.department)],
                status,
                flags[p.provisional],
                targets,
                version,
                updated_at,
            )
        )
    if copy:
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        with cursor.copy(f"COPY occurrence ({', '.join(_CREATE_COLUMNS)}) FROM STDIN") as sink:
            for row in rows:
                sink.write_row(row)
        return
    compiled = insert(table).values({c: bindparam(c) for c in _CREATE_COLUMNS}).compile(dialect=dialect)
    params: list[Any] = rows
    if not (dialect.positional and tuple(compiled.positiontup or ()) == _CREATE_COLUMNS):
        params = [dict(zip(_CREATE_COLUMNS, row)) for row in rows]
    conn.exec_driver_sql(compiled.string, params)


def _decide_notices(
    session: Session,
    loaded: LoadedAgreement,
    version: int,
    plan: PlanDiff,
    stored: list[StoredOccurrence],
    departments: dict[tuple[str, str], int],
    today: dt.date,
) -> None:
    """Same transaction as the plan: a changed task and the decision to tell its department land together."""
    before = {s.id: s for s in stored}
    cancelled = []
    for oid, _ in plan.cancel:
        old = before[oid].comparable
        dept = departments.get((str(old[3]), str(old[4])))
        if dept is not None:
            cancelled.append((oid, before[oid].due_date, dept, before[oid].clause))
    record_plan_notices(
        session,
        loaded.agreement.id,
        version,
        {oid for oid, _ in plan.update},
        cancelled,
        today,
        get_settings().notify_horizon_days,
        clause_policies(loaded.agreement),
    )


def _describe(plan: PlanDiff, stored: list[StoredOccurrence]) -> list[dict[str, str]]:
    """Human-readable change list for the coordinator's artifact (first 200 lines is plenty to read)."""
    before = {s.id: s for s in stored}
    out: list[dict[str, str]] = []
    for oid, p in plan.update[:200]:
        old = before[oid]
        out.append({"change": "调整", "key": p.key, "detail": f"{old.due_date} → {p.due_date}，承办方 {p.host or '—'}"})
    for oid, reason in plan.cancel[: max(0, 200 - len(out))]:
        out.append({"change": "取消", "key": before[oid].key, "detail": reason})
    for p in plan.create[: max(0, 200 - len(out))]:
        out.append({"change": "新增", "key": p.key, "detail": f"截止 {p.due_date}"})
    return out


def _events(
    agreement_id: str,
    actor: str,
    version: int,
    content_hash: str,
    plan: PlanDiff,
    planned: list[PlannedOccurrence],
    stored: list[StoredOccurrence],
) -> list[EventDraft]:
    """One event for the plan (with a digest of every planned row), one per changed or cancelled occurrence."""
    ordered = sorted(planned, key=attrgetter("key"))
    digest = hashlib.sha256(
        "".join([f"{p.key}|{p.due_date}|{p.host}|{p.party}|{p.department}\n" for p in ordered]).encode()
    )
    # A first plan creates every planned row: its keys are already sorted.
    created_keys = [p.key for p in ordered] if len(plan.create) == len(planned) else sorted(p.key for p in plan.create)
    events = [
        EventDraft(
            kind="agreement_planned",
            actor=actor,
            agreement_id=agreement_id,
            payload={
                "version": version,
                "content_hash": content_hash,
                "created": len(plan.create),
                "updated": len(plan.update),
                "cancelled": len(plan.cancel),
                "occurrences": len(planned),
                "occurrences_digest": digest.hexdigest(),
                "created_keys_digest": hashlib.sha256("\n".join(created_keys).encode()).hexdigest(),
            },
        )
    ]
    before = {s.id: s for s in stored}
    for oid, p in plan.update:
        old = before[oid].comparable
        events.append(
            EventDraft(
                kind="occurrence_replanned",
                actor=actor,
                agreement_id=agreement_id,
                occurrence_id=oid,
                payload={
                    "version": version,
                    "before": {"due_date": str(old[0]), "host": old[2], "party": old[3], "department": old[4]},
                    "after": {
                        "due_date": str(p.due_date),
                        "host": p.host,
                        "party": p.party,
                        "department": p.department,
                    },
                },
            )
        )
    for oid, reason in plan.cancel:
        events.append(
            EventDraft(
                kind="occurrence_cancelled",
                actor=actor,
                agreement_id=agreement_id,
                occurrence_id=oid,
                payload={"version": version, "reason": reason, "key": before[oid].key},
            )
        )
    return events
