"""Joint tasks (`sign_off: all`): whose parts a task needs, which of them are in, and who may report one.

A joint task is done when the responsible party and every co-organiser party have each reported their own part as
done, each through its own department's link or token. A party is an agency id, never a short name: the names in
`clause.co_organisers` are read within the task's agreement (`agreement_party`).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlmodel import Session, col

from models.tables import AgreementParty, ClauseRecord, Department, Occurrence, Report

ALL = "all"


def required_parts(session: Session, occ: Occurrence, clause: ClauseRecord) -> dict[int, str]:
    """Agency id → party short name of every part the task needs: one (the responsible party's) unless joint."""
    responsible = session.get(Department, occ.department_id)
    assert responsible is not None
    rows = session.execute(
        select(col(AgreementParty.agency_id), col(AgreementParty.name)).where(
            col(AgreementParty.agreement_id) == occ.agreement_id
        )
    )
    names: dict[int, str] = {row[0]: row[1] for row in rows}
    parts = {responsible.agency_id: names.get(responsible.agency_id, str(responsible.agency_id))}
    if clause.sign_off == ALL:
        wanted = set(clause.co_organisers)
        parts.update({agency: name for agency, name in names.items() if name in wanted})
    return parts


def part_of(session: Session, occ: Occurrence, clause: ClauseRecord, department_id: int) -> int | None:
    """The party whose part `department_id` may report: the responsible department reports the responsible party's
    part; under `sign_off: all` any department of a co-organiser party reports that party's. None: not theirs."""
    dept = session.get(Department, department_id)
    if dept is None:
        return None
    if department_id == occ.department_id:
        return dept.agency_id
    responsible = session.get(Department, occ.department_id)
    if clause.sign_off != ALL or responsible is None or dept.agency_id == responsible.agency_id:
        return None  # the responsible party's part is its responsible department's to report
    return dept.agency_id if dept.agency_id in required_parts(session, occ, clause) else None


def parts_done(session: Session, occ: Occurrence) -> set[int]:
    """The parties whose part has a `done` report (a report without a party is the responsible party's)."""
    responsible = session.get(Department, occ.department_id)
    assert responsible is not None
    rows = session.execute(
        select(col(Report.party_id)).where(col(Report.occurrence_id) == occ.id, col(Report.outcome) == "done")
    ).scalars()
    return {responsible.agency_id if party is None else party for party in rows}


def joint_occurrence_ids(session: Session, department_id: int) -> list[int]:
    """Occurrences of joint clauses in which `department_id`'s party is a co-organiser (its part to report)."""
    dept = session.get(Department, department_id)
    if dept is None:
        return []
    named = session.execute(
        select(col(AgreementParty.agreement_id), col(AgreementParty.name)).where(
            col(AgreementParty.agency_id) == dept.agency_id
        )
    ).all()
    if not named:
        return []
    clauses = session.execute(
        select(col(ClauseRecord.id), col(ClauseRecord.agreement_id), col(ClauseRecord.co_organisers)).where(
            col(ClauseRecord.sign_off) == ALL,
            col(ClauseRecord.agreement_id).in_({agreement for agreement, _ in named}),
        )
    ).all()
    mine = {(agreement, name) for agreement, name in named}
    ids = [cid for cid, agreement, organisers in clauses if any((agreement, n) in mine for n in organisers or [])]
    if not ids:
        return []
    return list(
        session.execute(
            select(col(Occurrence.id)).where(
                col(Occurrence.clause_id).in_(ids), col(Occurrence.department_id) != department_id
            )
        ).scalars()
    )
