"""Uploaded evidence files: size- and type-limited, stored once under their sha256 (content-addressed).

An upload is first *staged* (streamed to a temporary file while hashing and counting, never held in
memory), then *placed* at `evidence_dir/ab/cd/<sha256>` only when the report that cites it commits.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from coop.errors import EVIDENCE_ALLOWED_KINDS, EvidenceEmpty, EvidenceTooLarge, EvidenceTypeRefused

CHUNK = 64 * 1024
EVIDENCE_REF = re.compile(r"^sha256:([0-9a-f]{64})$")
MAX_FILENAME = 255

# Types are recognised from the file's first bytes, not from what the browser claims.
_OFFICE = {
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ".pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
}
ALLOWED_KINDS = EVIDENCE_ALLOWED_KINDS


@dataclass(frozen=True)
class StagedEvidence:
    sha256: str
    size: int
    content_type: str
    filename: str
    temp_path: Path

    @property
    def ref(self) -> str:
        """How a report's evidence list cites this file (and so how the ledger records its hash)."""
        return f"sha256:{self.sha256}"


def sniff(head: bytes, filename: str) -> str | None:
    """The content type of an allowed file, from its magic bytes (and, for zip-based Office files, its name)."""
    suffix = Path(filename).suffix.lower()
    if head.startswith(b"%PDF-"):
        return "application/pdf"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head.startswith(b"PK\x03\x04") and suffix in _OFFICE:
        return _OFFICE[suffix]
    return None


def clean_filename(filename: str | None) -> str:
    """Only the last path component, without control characters: it is shown to auditors, never used as a path."""
    name = (filename or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in name if c.isprintable()).strip()
    return name[:MAX_FILENAME] or "upload"


def stage(stream: BinaryIO, filename: str | None, evidence_dir: Path, max_bytes: int) -> StagedEvidence:
    """Copy `stream` to a temporary file next to the store, hashing as it goes; refuse early when too large."""
    name = clean_filename(filename)
    incoming = Path(evidence_dir) / "incoming"
    incoming.mkdir(parents=True, exist_ok=True)
    digest, size, head = hashlib.sha256(), 0, b""
    fd, temp = tempfile.mkstemp(dir=incoming, prefix="upload-")
    temp_path = Path(temp)
    try:
        with os.fdopen(fd, "wb") as out:
            while chunk := stream.read(CHUNK):
                size += len(chunk)
                if size > max_bytes:
                    raise EvidenceTooLarge(max_bytes)
                if len(head) < 16:
                    head += chunk[: 16 - len(head)]
                digest.update(chunk)
                out.write(chunk)
        if size == 0:
            raise EvidenceEmpty(name)
        content_type = sniff(head, name)
        if content_type is None or (content_type in _OFFICE.values() and not _is_office_zip(temp_path)):
            raise EvidenceTypeRefused(name)
    except BaseException:
        temp_path.unlink(missing_ok=True)
        raise
    return StagedEvidence(digest.hexdigest(), size, content_type, name, temp_path)


def _is_office_zip(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as archive:
            return "[Content_Types].xml" in archive.namelist()
    except (zipfile.BadZipFile, OSError):
        return False


def path_for(evidence_dir: Path, sha256: str) -> Path:
    if not re.fullmatch(r"[0-9a-f]{64}", sha256):
        raise ValueError("not a sha256 hex digest")
    return Path(evidence_dir) / sha256[:2] / sha256[2:4] / sha256


def place(staged: StagedEvidence, evidence_dir: Path) -> bool:
    """Move the staged file to its content address; True if this call created it (so a rollback may remove it)."""
    target = path_for(evidence_dir, staged.sha256)
    if target.exists():
        staged.temp_path.unlink(missing_ok=True)
        return False
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(staged.temp_path, target)
    return True


def discard(staged: StagedEvidence) -> None:
    staged.temp_path.unlink(missing_ok=True)
