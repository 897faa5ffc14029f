"""Evidence uploads as use cases: a department's upload (within its quota), its download, and the clean-up of
uploads no report cited within COOP_EVIDENCE_TTL_HOURS."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from coop import evidence as files
from coop.errors import EvidenceQuotaExceeded
from coop.settings import Settings
from coop.store import evidence as store
from models.db import session_scope
from models.tables import utcnow

MB = 1024 * 1024


def upload(settings: Settings, staged: files.StagedEvidence, department_id: int | None) -> store.Upload:
    """Keep a staged file as this department's upload (its own name), refused over the department's quota.

    The quota counts the department's uploads no report has cited yet; `department_id` None (a coordinator) has
    none. The staged temporary file is always consumed: placed, or removed when refused.
    """
    try:
        with session_scope(settings.database_url) as session:
            if department_id is not None:
                pending = store.pending_bytes(session, department_id)
                if pending + staged.size > settings.evidence_quota_mb * MB:
                    raise EvidenceQuotaExceeded(settings.evidence_quota_mb, settings.evidence_ttl_hours)
            row = store.register(session, staged, department_id)
            files.place(staged, settings.evidence_dir)
    finally:
        files.discard(staged)
    return row


@dataclass(frozen=True)
class Download:
    path: Path
    content_type: str
    filename: str


def department_download(settings: Settings, sha256: str, department_id: int) -> Download | None:
    """A file this department (or a coordinator) uploaded, under the department's own file name; else None — the
    same for a file another department uploaded as for one that does not exist."""
    with session_scope(settings.database_url) as session:
        found = store.for_department(session, sha256, department_id)
    if found is None:
        return None
    path = files.path_for(settings.evidence_dir, sha256)
    if not path.is_file():
        return None
    return Download(path, found.content_type, found.filename)


@dataclass(frozen=True)
class Cleanup:
    """What `coop evidence cleanup` removed."""

    uploads: int
    files: int
    staged: int
    cutoff: dt.datetime

    def line(self) -> str:
        return (
            f"已清理 {self.uploads} 个未被报告引用的上传、{self.files} 个文件、{self.staged} 个未完成的暂存文件"
            f"（上传早于 {self.cutoff:%Y-%m-%d %H:%M} UTC）"
        )


def cleanup(settings: Settings, now: dt.datetime | None = None) -> Cleanup:
    """Remove uploads no report cited within the TTL, then the files nothing holds any more (after the commit:
    a rolled-back clean-up deletes nothing), and staged temporaries older than the TTL (an interrupted upload)."""
    now = now or utcnow()
    cutoff = now - dt.timedelta(hours=settings.evidence_ttl_hours)
    with session_scope(settings.database_url) as session:
        expired = store.remove_expired(session, cutoff)
    for sha256 in expired.files:
        files.path_for(settings.evidence_dir, sha256).unlink(missing_ok=True)
    staged = 0
    incoming = Path(settings.evidence_dir) / "incoming"
    if incoming.is_dir():
        for temp in incoming.glob("upload-*"):
            try:
                if dt.datetime.fromtimestamp(temp.stat().st_mtime, dt.UTC) < cutoff.replace(tzinfo=dt.UTC):
                    temp.unlink(missing_ok=True)
                    staged += 1
            except FileNotFoundError:
                continue
    return Cleanup(expired.uploads, len(expired.files), staged, cutoff)
