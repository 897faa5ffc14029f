"""Citing an uploaded file in a report: who may cite what, and marking it cited (so clean-up keeps it).

Its own module because both `occurrences` (every report path) and `evidence` (uploads) need it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any, cast

from sqlalchemy import ColumnElement, CursorResult, Executable, or_, update
from sqlmodel import Session, col

from coop.errors import UnknownEvidence
from models.tables import EvidenceFile, EvidenceUpload, utcnow


def visible_to(department_id: int) -> ColumnElement[bool]:
    """Uploads a department may use: its own and the coordinators'."""
    return or_(col(EvidenceUpload.department_id) == department_id, col(EvidenceUpload.department_id).is_(None))


def cite(session: Session, hashes: Iterable[str], department_id: int | None, now: dt.datetime | None = None) -> None:
    """Check that every cited hash may be cited and mark it cited, in the caller's transaction.

    A department may cite only its own or a coordinator's uploads (`department_id` None = a coordinator, who may
    cite any stored file); any other hash gets the answer an unknown one gets. Marking is an UPDATE whose row
    count is the check, so a concurrent clean-up either finds the row cited and keeps it, or has deleted it and
    the citation fails: never a report citing nothing.
    """
    now = now or utcnow()
    for sha256 in sorted(set(hashes)):
        the_file = update(EvidenceFile).where(col(EvidenceFile.sha256) == sha256).values(cited_at=now)
        if department_id is None:
            if changed(session, the_file) == 0:
                raise UnknownEvidence(sha256)
            session.execute(update(EvidenceUpload).where(col(EvidenceUpload.sha256) == sha256).values(cited_at=now))
            continue
        mine = update(EvidenceUpload).where(col(EvidenceUpload.sha256) == sha256, visible_to(department_id))
        if changed(session, mine.values(cited_at=now)) == 0:
            raise UnknownEvidence(sha256)
        session.execute(the_file)


def changed(session: Session, statement: Executable) -> int:
    """How many rows an UPDATE or DELETE touched."""
    return int(cast(CursorResult[Any], session.execute(statement)).rowcount or 0)
