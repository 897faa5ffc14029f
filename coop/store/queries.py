"""The joins occurrence and department queries share, written once.

A department is named by its party (the `Agency` that signed) and its own name; an occurrence is read with
its agreement, clause and owning department. Every store module builds on these instead of repeating them.
"""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Select, and_, func, select
from sqlmodel import col

from models.tables import Agency, AgreementRecord, ClauseRecord, Department, Occurrence

AnySelect = Select[*tuple[Any, ...]]
Q = TypeVar("Q", bound=AnySelect)


def join_party(query: Q) -> Q:
    """`query` (which already has `Department`) joined to the department's party."""
    return query.join(Agency, col(Agency.id) == col(Department.agency_id))


def join_department(query: Q, department_id: Any = Occurrence.department_id) -> Q:
    """`query` joined to the department `department_id` names (the occurrence's owner by default) and its party."""
    return join_party(query.join(Department, col(Department.id) == department_id))


def join_clause(query: Q) -> Q:
    """`query` (which has `Occurrence`) joined to the occurrence's clause."""
    return query.join(ClauseRecord, col(ClauseRecord.id) == col(Occurrence.clause_id))


def join_agreement(query: Q) -> Q:
    """`query` (which has `Occurrence`) joined to the occurrence's agreement."""
    return query.join(AgreementRecord, col(AgreementRecord.id) == col(Occurrence.agreement_id))


def join_context(query: Q) -> Q:
    """`query` (which has `Occurrence`) joined to its clause, owning department and party."""
    return join_department(join_clause(query))


def department_named(party: str, name: str) -> ColumnElement[bool]:
    """The condition "this department is `name` of party `party`" (needs `join_party`)."""
    return and_(col(Agency.name) == party, col(Department.name) == name)


def department_names() -> AnySelect:
    """Every department as (id, party, department) rows; narrow it with `.where(...)`."""
    return join_party(
        select(
            col(Department.id).label("id"), col(Agency.name).label("party"), col(Department.name).label("department")
        )
    )


# An occurrence as people read it: ids, the names of its agreement, clause, party and department, its dates.
OCCURRENCE_COLUMNS: tuple[Any, ...] = (
    col(Occurrence.id).label("id"),
    col(Occurrence.agreement_id).label("agreement_id"),
    col(AgreementRecord.title).label("agreement_title"),
    col(ClauseRecord.programme_code).label("programme"),
    col(ClauseRecord.code).label("clause"),
    col(ClauseRecord.title).label("clause_title"),
    col(Agency.name).label("party"),
    col(Department.name).label("department"),
    col(Occurrence.host).label("host"),
    # A rotating round's own place (the host's, `location_from_host`), else the clause's fixed one.
    func.coalesce(col(Occurrence.location), col(ClauseRecord.location)).label("location"),
    col(Occurrence.window_start).label("window_start"),
    col(Occurrence.due_date).label("due_date"),
    col(Occurrence.status).label("status"),
    col(Occurrence.provisional).label("provisional"),
    col(Occurrence.closed_at).label("closed_at"),
    col(Occurrence.targets).label("targets"),
)


def occurrence_rows() -> AnySelect:
    """Occurrences with `OCCURRENCE_COLUMNS` (rows read by name), joined to agreement, clause, department, party."""
    return join_agreement(join_context(select(*OCCURRENCE_COLUMNS).select_from(Occurrence)))
