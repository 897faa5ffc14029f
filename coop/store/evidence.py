"""Evidence file rows, who uploaded them, and a completion report that carries uploaded files — one transaction.

A file is stored once under its sha256 (`EvidenceFile`); each department that uploads it gets its own
`EvidenceUpload` row with its own file name. A department cites and downloads only its own uploads or a
coordinator's; a hash it did not upload gets the same answer as one nobody uploaded.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import delete, event, exists, func, select
from sqlmodel import Session, col

from coop import evidence as files
from coop.report import CompletionReport
from coop.store.citations import changed, visible_to
from coop.store.occurrences import record_completion
from models.tables import EvidenceFile, EvidenceUpload


@dataclass(frozen=True)
class Upload:
    """A stored file as the department that uploaded it sees it."""

    sha256: str
    size: int
    content_type: str
    filename: str


def register(session: Session, staged: files.StagedEvidence, department_id: int | None) -> Upload:
    """The rows for a staged file: the file once, and this uploader's own upload (with its own file name)."""
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
    upload = _upload(session, staged.sha256, department_id)
    if upload is None:
        upload = EvidenceUpload(
            sha256=staged.sha256, department_id=department_id, filename=staged.filename, size=staged.size
        )
        session.add(upload)
        session.flush()
    return Upload(row.sha256, row.size, row.content_type, upload.filename)


def _upload(session: Session, sha256: str, department_id: int | None) -> EvidenceUpload | None:
    owner = (
        col(EvidenceUpload.department_id).is_(None)
        if department_id is None
        else col(EvidenceUpload.department_id) == department_id
    )
    return session.execute(
        select(EvidenceUpload).where(col(EvidenceUpload.sha256) == sha256, owner)
    ).scalar_one_or_none()


def pending_bytes(session: Session, department_id: int) -> int:
    """How many bytes of this department's uploads no report has cited yet (what the quota limits)."""
    total = session.execute(
        select(func.coalesce(func.sum(col(EvidenceUpload.size)), 0)).where(
            col(EvidenceUpload.department_id) == department_id, col(EvidenceUpload.cited_at).is_(None)
        )
    ).scalar_one()
    return int(total)


def known(session: Session, hashes: Iterable[str]) -> set[str]:
    wanted = sorted(set(hashes))
    if not wanted:
        return set()
    return set(session.execute(select(col(EvidenceFile.sha256)).where(col(EvidenceFile.sha256).in_(wanted))).scalars())


def get(session: Session, sha256: str) -> EvidenceFile | None:
    return session.get(EvidenceFile, sha256)


def for_department(session: Session, sha256: str, department_id: int) -> Upload | None:
    """A file as this department uploaded it (its own file name first, else a coordinator's); None otherwise."""
    row = session.execute(
        select(col(EvidenceUpload.filename), col(EvidenceFile.size), col(EvidenceFile.content_type))
        .join(EvidenceFile, col(EvidenceFile.sha256) == col(EvidenceUpload.sha256))
        .where(col(EvidenceUpload.sha256) == sha256, visible_to(department_id))
        .order_by(col(EvidenceUpload.department_id).is_(None))
        .limit(1)
    ).first()
    return None if row is None else Upload(sha256, row.size, row.content_type, row.filename)


@dataclass(frozen=True)
class Expired:
    """What a clean-up removed: upload rows, and the files no upload or report holds any more."""

    uploads: int
    files: list[str]


def remove_expired(session: Session, cutoff: dt.datetime) -> Expired:
    """Delete uploads never cited and uploaded before `cutoff`; then every file left without an upload or a citation.

    Each DELETE re-checks `cited_at IS NULL`, so a report citing the file at the same moment keeps it.
    """
    stale = col(EvidenceUpload.cited_at).is_(None) & (col(EvidenceUpload.uploaded_at) < cutoff)
    candidates = sorted(set(session.execute(select(col(EvidenceUpload.sha256)).where(stale)).scalars()))
    removed = changed(session, delete(EvidenceUpload).where(stale))
    orphaned: list[str] = []
    for sha256 in candidates:
        gone = changed(
            session,
            delete(EvidenceFile).where(
                col(EvidenceFile.sha256) == sha256,
                col(EvidenceFile.cited_at).is_(None),
                ~exists().where(col(EvidenceUpload.sha256) == sha256),
            ),
        )
        if gone:
            orphaned.append(sha256)
    return Expired(removed, orphaned)


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

    event.listen(session, "after_commit", keep, once=True)
    event.listen(session, "after_rollback", undo, once=True)
