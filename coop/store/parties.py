"""Parties and departments by identity: an agreement's short names reach ids only through `agreement_party`.

Short names repeat across agreements (two provinces each have a 省委社会工作部), so a name is always read
within one agreement; a department seen from outside any agreement is named by its party's key.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlmodel import Session, col

from coop.store.queries import join_party
from models.tables import Agency, AgreementParty, Department

LEGACY_PREFIX = "legacy:"
"""Key prefix migration 0007 gave a party several agreements shared before identities existed."""


def agreement_departments(session: Session, agreement_id: str | None = None) -> dict[tuple[str, str, str], int]:
    """(agreement, party short name, department name) → department id; every agreement unless one is named."""
    query = select(
        col(AgreementParty.agreement_id), col(AgreementParty.name), col(Department.name), col(Department.id)
    ).join(Department, col(Department.agency_id) == col(AgreementParty.agency_id))
    if agreement_id is not None:
        query = query.where(col(AgreementParty.agreement_id) == agreement_id)
    return {(a, party, dept): did for a, party, dept, did in session.execute(query)}


def agreement_agencies(session: Session, agreement_id: str) -> dict[str, int]:
    """Party short name → agency id, as this agreement names its parties."""
    query = select(col(AgreementParty.name), col(AgreementParty.agency_id)).where(
        col(AgreementParty.agreement_id) == agreement_id
    )
    return {row[0]: row[1] for row in session.execute(query)}


def department_by_name(session: Session, party: str, department: str, agreement_id: str | None = None) -> list[int]:
    """Department ids a `party/department` reference can mean.

    `party` is a short name within `agreement_id`, or — with or without an agreement — a party key
    (`jilin/swd`, `jlu-institute-2024:吉林大学`). More than one id means the reference is ambiguous.
    """
    by_key = join_party(select(col(Department.id))).where(col(Agency.key) == party, col(Department.name) == department)
    found = [did for (did,) in session.execute(by_key)]
    if found:
        return found
    query = (
        select(col(Department.id))
        .join(AgreementParty, col(AgreementParty.agency_id) == col(Department.agency_id))
        .where(col(AgreementParty.name) == party, col(Department.name) == department)
    )
    if agreement_id is not None:
        query = query.where(col(AgreementParty.agreement_id) == agreement_id)
    return sorted({did for (did,) in session.execute(query)})


def party_key(session: Session, department_id: int) -> str | None:
    """The key of the party a department belongs to."""
    return session.execute(
        select(col(Agency.key))
        .join(Department, col(Department.agency_id) == col(Agency.id))
        .where(col(Department.id) == department_id)
    ).scalar_one_or_none()
