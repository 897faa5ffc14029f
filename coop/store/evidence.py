"""Evidence file rows, and a completion report that carries uploaded files — one transaction for both."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from sqlalchemy import event, select
from sqlmodel import Session

from coop import evidence as files
from coop.store.occurrences import CompletionReport, record_completion
from models.tables import EvidenceFile


def register(session: Session, staged: files.StagedEvidence, department_id: int | None) -> EvidenceFile:
    """The row for a staged file; an identical file uploaded before keeps its first uploader."""
    row = session.get(EvidenceFile, staged.sha256)
    if row is None:
        row = EvidenceFile(
            sha256=staged.sha256,
            size=staged.size,
            content_type=staged.content_type,
            filename=staged.filename,
            department_id=department_id,
        )
        session.add(row)
        session.flush()
    return row


def known(session: Session, hashes: Iterable[str]) -> set[str]:
    wanted = sorted(set(hashes))
    if not wanted:
        return set()
    return set(session.execute(select(EvidenceFile.sha256).where(EvidenceFile.sha256.in_(wanted))).scalars())  # type: ignore[attr-defined]


def get(session: Session, sha256: str) -> EvidenceFile | None:
    return session.get(EvidenceFile, sha256)


def record_with_files(
    session: Session,
    report: CompletionReport,
    actor: str,
    uploads: Sequence[files.StagedEvidence],
    department_id: int,
    evidence_dir: Path,
) -> int:
    """Register the uploads, cite them as `sha256:…` in the report, record it, then place the files.

    Files are placed last, after every check has passed, and removed again if the commit never happens,
    so a refused report leaves neither rows nor files behind.
    """
    refs = [u.ref for u in uploads]
    for staged in uploads:
        register(session, staged, department_id)
    full = CompletionReport(
        **{**report.__dict__, "evidence": [*report.evidence, *(r for r in refs if r not in report.evidence)]}
    )
    event_id = record_completion(session, full, actor)
    created: list[Path] = []
    try:
        for staged in uploads:
            if files.place(staged, evidence_dir):
                created.append(files.path_for(evidence_dir, staged.sha256))
    except BaseException:
        for path in created:
            path.unlink(missing_ok=True)
        raise
    if created:
        _unlink_on_rollback(session, created)
    return event_id


def _unlink_on_rollback(session: Session, paths: list[Path]) -> None:
    def undo(_session: Session) -> None:
        for path in paths:
            path.unlink(missing_ok=True)

    def keep(_session: Session) -> None:
        event.remove(session, "after_rollback", undo)

    event.listen(session, "after_rollback", undo, once=True)
    event.listen(session, "after_commit", keep, once=True)
