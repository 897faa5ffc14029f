"""API tokens, used link nonces, and what one department may see — every query scoped to that department."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, or_, select
from sqlmodel import Session, col

from coop.access import LinkClaims, Principal, Role, new_token, token_digest
from coop.errors import CoopError, LinkUsed, UnknownOccurrence
from coop.store import joint
from coop.store.occurrences import resolve_department
from coop.store.queries import AnySelect, department_names, join_agreement, join_clause
from models.read import DepartmentOccurrencePublic, DepartmentPublic
from models.tables import (
    OPEN_STATUSES,
    Agency,
    AgreementRecord,
    ApiToken,
    ClauseRecord,
    Department,
    Occurrence,
    Report,
    UsedLink,
    utcnow,
)


@dataclass(frozen=True)
class IssuedToken:
    id: int
    token: str  # shown once; only its hash is stored
    role: str
    department: str | None
    label: str


def issue_token(session: Session, role: Role, label: str, department: str | None = None) -> IssuedToken:
    """A new department or auditor token (coordinators use COOP_COORDINATOR_TOKEN instead)."""
    if role == Role.coordinator:
        raise CoopError("协调人使用 COOP_COORDINATOR_TOKEN，不发放数据库令牌 (coordinators use COOP_COORDINATOR_TOKEN)")
    if (role == Role.department) != (department is not None):
        raise CoopError(
            "部门令牌必须指定部门，审计令牌不能指定部门 "
            "(a department token names its department; an auditor token does not)"
        )
    dept = resolve_department(session, department) if department is not None else None
    token = new_token()
    row = ApiToken(
        token_hash=token_digest(token),
        role=str(role),
        department_id=dept.id if dept else None,
        label=label.strip()[:200] or str(role),
    )
    session.add(row)
    session.flush()
    assert row.id is not None
    name = None
    if dept is not None:
        agency = session.get(Agency, dept.agency_id)
        name = f"{agency.name if agency else ''}/{dept.name}"
    return IssuedToken(row.id, token, row.role, name, row.label)


def revoke_token(session: Session, token_id: int) -> None:
    row = session.get(ApiToken, token_id)
    if row is None:
        raise CoopError(f"找不到令牌 #{token_id} (unknown token id)")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        session.add(row)


def list_tokens(session: Session) -> list[ApiToken]:
    return list(session.execute(select(ApiToken).order_by(col(ApiToken.id))).scalars())


def principal_for_token(session: Session, presented: str) -> Principal | None:
    """The department, auditor or named coordinator a live token belongs to; None if unknown, revoked or expired."""
    row = session.execute(
        select(ApiToken).where(col(ApiToken.token_hash) == token_digest(presented), col(ApiToken.revoked_at).is_(None))
    ).scalar_one_or_none()
    if row is None or (row.expires_at is not None and row.expires_at <= utcnow()):
        return None
    return Principal(Role(row.role), row.label, row.department_id, row.id, row.person, frozenset(row.agreements or ()))


def consume_link(session: Session, claims: LinkClaims) -> None:
    """Mark a link used in the caller's transaction; a second use raises LinkUsed (a concurrent one hits the key)."""
    if session.get(UsedLink, claims.nonce) is not None:
        raise LinkUsed()
    session.add(
        UsedLink(
            nonce=claims.nonce,
            purpose=claims.purpose,
            department_id=claims.department_id,
            occurrence_id=claims.occurrence_id,
            expires_at=claims.expires_at,
        )
    )
    session.flush()


def link_used(session: Session, nonce: str) -> bool:
    return session.get(UsedLink, nonce) is not None


# The read models (models/read.py), under the names callers import.
DepartmentOccurrence = DepartmentOccurrencePublic
DepartmentView = DepartmentPublic


def department_view(session: Session, department_id: int) -> DepartmentPublic | None:
    row = session.execute(department_names().where(col(Department.id) == department_id)).first()
    return DepartmentPublic(id=row.id, party=row.party, name=row.department) if row else None


def _occurrence_query() -> AnySelect:
    return join_agreement(join_clause(select(Occurrence, ClauseRecord, col(AgreementRecord.title))))


def _view(
    session: Session, occ: Occurrence, clause: ClauseRecord, title: str, department_id: int | None = None
) -> DepartmentOccurrencePublic:
    reported, count = reported_totals(session, occ.id or 0)
    parts: dict[str, bool] = {}
    part_done: bool | None = None
    if clause.sign_off == joint.ALL:
        required, done = joint.required_parts(session, occ, clause), joint.parts_done(session, occ)
        parts = {name: agency in done for agency, name in required.items()}
        mine = joint.part_of(session, occ, clause, department_id) if department_id is not None else None
        part_done = mine in done if mine is not None else None
    return DepartmentOccurrencePublic(
        id=occ.id or 0,
        agreement_id=occ.agreement_id,
        agreement_title=title,
        clause=clause.code,
        clause_title=clause.title,
        kind=clause.kind,
        due_date=occ.due_date,
        window_start=occ.window_start,
        host=occ.host,
        location=occ.location or clause.location,
        status=str(occ.status),
        provisional=occ.provisional,
        targets=dict(occ.targets or clause.targets),
        evidence_expected=list(clause.evidence),
        reported=reported,
        reports=count,
        parts=parts,
        part_done=part_done,
    )


def occurrence_for_department(session: Session, department_id: int, occurrence_id: int) -> DepartmentOccurrencePublic:
    """The occurrence if this department owes it or a part of it (a joint task's co-organiser); otherwise
    UnknownOccurrence, exactly as for a missing id."""
    row = session.execute(_occurrence_query().where(col(Occurrence.id) == occurrence_id)).first()
    if row is None or joint.part_of(session, row[0], row[1], department_id) is None:
        raise UnknownOccurrence(occurrence_id)
    return _view(session, row[0], row[1], row[2], department_id)


def occurrences_for_department(
    session: Session, department_id: int, open_only: bool = True, limit: int = 200, offset: int = 0
) -> list[DepartmentOccurrencePublic]:
    # Its own tasks, and the joint tasks in which its party is a co-organiser with a part to report.
    shared = joint.joint_occurrence_ids(session, department_id)
    owns = col(Occurrence.department_id) == department_id
    query = _occurrence_query().where(or_(owns, col(Occurrence.id).in_(shared)) if shared else owns)
    if open_only:
        query = query.where(col(Occurrence.status).in_(OPEN_STATUSES))
    rows = session.execute(
        query.order_by(col(Occurrence.due_date), col(Occurrence.id)).limit(limit).offset(offset)
    ).all()
    return [_view(session, r[0], r[1], r[2], department_id) for r in rows]


def reported_totals(session: Session, occurrence_id: int) -> tuple[dict[str, int], int]:
    """Sum of every metric reported for one occurrence, and how many reports there were."""
    totals: dict[str, int] = {}
    count = 0
    for metrics in session.execute(
        select(col(Report.metrics)).where(col(Report.occurrence_id) == occurrence_id)
    ).scalars():
        count += 1
        for name, value in (metrics or {}).items():
            totals[name] = totals.get(name, 0) + int(value)
    return totals, count


def count_open(session: Session, department_id: int) -> int:
    count: int = session.execute(
        select(func.count()).where(
            col(Occurrence.department_id) == department_id, col(Occurrence.status).in_(OPEN_STATUSES)
        )
    ).scalar_one()
    return count
