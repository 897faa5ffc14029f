"""API tokens, used link nonces, and what one department may see — every query scoped to that department."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlmodel import Session

from coop.access import LinkClaims, LinkUsed, Principal, Role, new_token, token_digest
from coop.errors import CoopError, UnknownOccurrence
from coop.store.occurrences import resolve_department
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
            "部门令牌必须指定部门，审计令牌不能指定部门 (a department token names its department; an auditor token does not)"
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
    return list(session.execute(select(ApiToken).order_by(ApiToken.id)).scalars())


def principal_for_token(session: Session, presented: str) -> Principal | None:
    """The department or auditor a live token belongs to; None for unknown or revoked tokens."""
    row = session.execute(
        select(ApiToken).where(ApiToken.token_hash == token_digest(presented), ApiToken.revoked_at.is_(None))  # type: ignore[union-attr]
    ).scalar_one_or_none()
    if row is None:
        return None
    return Principal(Role(row.role), row.label, row.department_id, row.id)


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


@dataclass(frozen=True)
class DepartmentOccurrence:
    """One occurrence as its department sees it, with what has been reported so far."""

    id: int
    agreement_id: str
    agreement_title: str
    clause: str
    clause_title: str
    clause_text: str | None
    kind: str
    due_date: dt.date
    window_start: dt.date
    host: str | None
    location: str | None
    status: str
    provisional: bool
    targets: dict[str, int]
    evidence_expected: list[str]
    reported: dict[str, int] = field(default_factory=dict)
    reports: int = 0


@dataclass(frozen=True)
class DepartmentView:
    id: int
    party: str
    name: str

    @property
    def label(self) -> str:
        return f"{self.party}{self.name}"


def department_view(session: Session, department_id: int) -> DepartmentView | None:
    row = session.execute(
        select(Department.id, Agency.name, Department.name)
        .join(Agency, Agency.id == Department.agency_id)
        .where(Department.id == department_id)
    ).first()
    return DepartmentView(row[0], row[1], row[2]) if row else None


def _occurrence_query():  # type: ignore[no-untyped-def]
    return (
        select(Occurrence, ClauseRecord, AgreementRecord.title)
        .join(ClauseRecord, ClauseRecord.id == Occurrence.clause_id)
        .join(AgreementRecord, AgreementRecord.id == Occurrence.agreement_id)
    )


def _view(session: Session, occ: Occurrence, clause: ClauseRecord, title: str) -> DepartmentOccurrence:
    reported, count = reported_totals(session, occ.id or 0)
    return DepartmentOccurrence(
        id=occ.id or 0,
        agreement_id=occ.agreement_id,
        agreement_title=title,
        clause=clause.code,
        clause_title=clause.title,
        clause_text=clause.text,
        kind=clause.kind,
        due_date=occ.due_date,
        window_start=occ.window_start,
        host=occ.host,
        location=clause.location,
        status=str(occ.status),
        provisional=occ.provisional,
        targets=dict(occ.targets or clause.targets),
        evidence_expected=list(clause.evidence),
        reported=reported,
        reports=count,
    )


def occurrence_for_department(session: Session, department_id: int, occurrence_id: int) -> DepartmentOccurrence:
    """The occurrence if this department owes it; otherwise UnknownOccurrence, exactly as for a missing id."""
    row = session.execute(
        _occurrence_query().where(Occurrence.id == occurrence_id, Occurrence.department_id == department_id)
    ).first()
    if row is None:
        raise UnknownOccurrence(occurrence_id)
    return _view(session, row[0], row[1], row[2])


def occurrences_for_department(
    session: Session, department_id: int, open_only: bool = True, limit: int = 200, offset: int = 0
) -> list[DepartmentOccurrence]:
    query = _occurrence_query().where(Occurrence.department_id == department_id)
    if open_only:
        query = query.where(Occurrence.status.in_(OPEN_STATUSES))  # type: ignore[attr-defined]
    rows = session.execute(query.order_by(Occurrence.due_date, Occurrence.id).limit(limit).offset(offset)).all()
    return [_view(session, r[0], r[1], r[2]) for r in rows]


def reported_totals(session: Session, occurrence_id: int) -> tuple[dict[str, int], int]:
    """Sum of every metric reported for one occurrence, and how many reports there were."""
    totals: dict[str, int] = {}
    count = 0
    for metrics in session.execute(select(Report.metrics).where(Report.occurrence_id == occurrence_id)).scalars():
        count += 1
        for name, value in (metrics or {}).items():
            totals[name] = totals.get(name, 0) + int(value)
    return totals, count


def count_open(session: Session, department_id: int) -> int:
    return session.execute(
        select(func.count()).where(Occurrence.department_id == department_id, Occurrence.status.in_(OPEN_STATUSES))  # type: ignore[attr-defined]
    ).scalar_one()
