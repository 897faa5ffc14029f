"""Record what a department did for one occurrence: the report, its evidence and its ledger event land together."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from coop.access import LinkClaims
from coop.errors import LinkInvalid
from coop.evidence import StagedEvidence
from coop.report import CompletionReport
from coop.store import access
from coop.store.evidence import record_with_files
from coop.store.occurrences import record_completion
from models.db import session_scope


@dataclass(frozen=True)
class RecordedReport:
    """The ledger event of a recorded report and the occurrence as its department sees it afterwards."""

    event_id: int
    occurrence: access.DepartmentOccurrence


def record_report(database_url: str, report: CompletionReport, actor: str) -> int:
    """Record one completion report and its ledger event in one transaction; returns the event id (`coop done`).

    The caller is the operator at the terminal, who sees every department: a wrong department is named as such."""
    with session_scope(database_url) as session:
        return record_completion(session, report, actor, coordinator=True)


def record_department_report(
    database_url: str,
    department_id: int,
    report: CompletionReport,
    actor: str,
    uploads: Sequence[StagedEvidence],
    evidence_dir: Path,
) -> RecordedReport:
    """A department's report with its uploaded files, one transaction; another department's occurrence is unknown."""
    with session_scope(database_url) as session:
        event_id = record_with_files(session, report, actor, uploads, department_id, evidence_dir)
        return RecordedReport(event_id, access.occurrence_for_department(session, department_id, report.occurrence_id))


def record_link_report(
    database_url: str,
    claims: LinkClaims,
    report: CompletionReport,
    uploads: Sequence[StagedEvidence],
    evidence_dir: Path,
) -> RecordedReport:
    """A report sent through a signed one-shot link: the link is spent in the same transaction as the report.

    The link, not the report, says which occurrence and department. Raises `LinkInvalid` when the link names no
    occurrence or its department no longer exists; a link already used fails on its nonce (IntegrityError).
    """
    if claims.occurrence_id is None:
        raise LinkInvalid()
    bound = replace(report, occurrence_id=claims.occurrence_id, department=str(claims.department_id))
    with session_scope(database_url) as session:
        department = access.department_view(session, claims.department_id)
        if department is None:
            raise LinkInvalid()
        access.consume_link(session, claims)
        actor = f"{department.party}/{department.name}（网页链接）"
        event_id = record_with_files(session, bound, actor, uploads, claims.department_id, evidence_dir)
        return RecordedReport(
            event_id, access.occurrence_for_department(session, claims.department_id, claims.occurrence_id)
        )
