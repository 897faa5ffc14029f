"""Write a plan: agencies, departments, clauses and occurrences, in bulk, with ledger events."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field

from sqlalchemy import bindparam, insert, select, update
from sqlmodel import Session

from coop.agreement.loader import LoadedAgreement
from coop.ledger import EventDraft
from coop.planning import PlanDiff, PlannedOccurrence, StoredOccurrence, diff
from coop.store import ledger
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
                document=agreement.model_dump(mode="json"),
            )
        )
    departments = _upsert_parties(session, loaded)
    clauses = _upsert_clauses(session, loaded)
    stored = _stored_occurrences(session, agreement.id)
    plan = diff(planned, stored, active_clauses=set(clauses), today=today)
    _write_occurrences(session, agreement.id, plan, clauses, departments, version)

    result = PlanResult(
        agreement.id, version, unchanged=False, created=len(plan.create), updated=len(plan.update), cancelled=len(plan.cancel), kept=plan.kept
    )
    result.changes = _describe(plan, stored)
    ledger.append(session, _events(agreement.id, actor, version, loaded.content_hash, plan, planned, stored))
    return result


def _version_exists(session: Session, agreement_id: str, content_hash: str) -> bool:
    found = session.execute(
        select(AgreementVersion.id).where(AgreementVersion.agreement_id == agreement_id, AgreementVersion.content_hash == content_hash)
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
    """Agencies are shared across agreements; their departments' contacts follow the latest plan."""
    ids: dict[tuple[str, str], int] = {}
    for party in loaded.agreement.parties:
        agency = session.execute(select(Agency).where(Agency.name == party.name)).scalar_one_or_none()
        if agency is None:
            agency = Agency(name=party.name, full_name=party.full_name)
            session.add(agency)
            session.flush()
        elif party.full_name and agency.full_name != party.full_name:
            agency.full_name = party.full_name
        existing = {d.name: d for d in session.execute(select(Department).where(Department.agency_id == agency.id)).scalars()}
        for dept in party.departments:
            row = existing.get(dept.name) or Department(agency_id=agency.id, name=dept.name)
            row.leader, row.contact = dept.leader, dept.contact
            row.channels, row.escalation_channels = list(dept.channels), list(dept.escalation_channels)
            session.add(row)
            session.flush()
            assert row.id is not None
            ids[(party.name, dept.name)] = row.id
    return ids


def _upsert_clauses(session: Session, loaded: LoadedAgreement) -> dict[str, int]:
    agreement = loaded.agreement
    programmes = {
        p.code: p for p in session.execute(select(ProgrammeRecord).where(ProgrammeRecord.agreement_id == agreement.id)).scalars()
    }
    clauses = {c.code: c for c in session.execute(select(ClauseRecord).where(ClauseRecord.agreement_id == agreement.id)).scalars()}
    active: dict[str, int] = {}
    for programme in agreement.programmes:
        prow = programmes.get(programme.id) or ProgrammeRecord(agreement_id=agreement.id, code=programme.id, title=programme.title)
        prow.title = programme.title
        session.add(prow)
        for clause in programme.clauses:
            crow = clauses.get(clause.id) or ClauseRecord(
                agreement_id=agreement.id, programme_code=programme.id, code=clause.id, title=clause.title, kind=clause.kind
            )
            crow.programme_code, crow.title, crow.text, crow.kind = programme.id, clause.title, clause.text, clause.kind
            crow.lead, crow.co_organisers, crow.rotate = clause.lead, list(clause.co_organisers), list(clause.rotate)
            crow.location, crow.targets, crow.evidence = clause.location, dict(clause.targets), list(clause.evidence)
            crow.recurrence = clause.recurrence.model_dump(mode="json", exclude_none=True)
            crow.active = True
            session.add(crow)
            session.flush()
            assert crow.id is not None
            active[clause.id] = crow.id
    for code, crow in clauses.items():
        if code not in active and crow.active:
            crow.active = False
            session.add(crow)
    session.flush()
    return active


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
            id=r[0], key=r[1], status=str(r[2]), clause=r[3], due_date=r[4], comparable=(r[4], r[5], r[6], r[7], r[8], r[9], r[10])
        )
        for r in rows
    ]


def _row(p: PlannedOccurrence, clauses: dict[str, int], departments: dict[tuple[str, str], int], version: int) -> dict[str, object]:
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
    for start in range(0, len(plan.create), BATCH):
        chunk = plan.create[start : start + BATCH]
        session.execute(
            insert(Occurrence),
            [
                {**_row(p, clauses, departments, version), "agreement_id": agreement_id, "status": "planned", "updated_at": now}
                for p in chunk
            ],
        )
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
    digest = hashlib.sha256()
    for p in sorted(planned, key=lambda p: p.key):
        digest.update(f"{p.key}|{p.due_date}|{p.host}|{p.party}|{p.department}\n".encode())
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
                "created_keys_digest": hashlib.sha256("\n".join(sorted(p.key for p in plan.create)).encode()).hexdigest(),
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
                    "after": {"due_date": str(p.due_date), "host": p.host, "party": p.party, "department": p.department},
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
