"""Signed department links: a report link for one occurrence, or the department's task list (`coop link`, demo)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

from coop.access import signer
from coop.settings import Settings
from coop.store.access import occurrence_for_department
from coop.store.occurrences import agreement_of, resolve_department
from coop.store.status import next_open
from models.db import session_scope

LinkPurpose = Literal["report", "list"]
PREFIXES: dict[LinkPurpose, str] = {"report": "r", "list": "d"}


@dataclass(frozen=True)
class DepartmentLink:
    url: str
    purpose: LinkPurpose
    department_id: int
    occurrence_id: int | None
    expires_at: dt.datetime


def sign(
    settings: Settings, department_id: int, occurrence_id: int | None, now: dt.datetime | None = None
) -> DepartmentLink:
    """A link valid for `link_ttl_hours`: the report form of `occurrence_id`, or the department's list without one."""
    purpose: LinkPurpose = "report" if occurrence_id is not None else "list"
    now = now or dt.datetime.now(dt.UTC)
    ttl = dt.timedelta(hours=settings.link_ttl_hours)
    token = signer(settings).issue(purpose, department_id, occurrence_id, ttl, now)
    url = f"{settings.public_base_url.rstrip('/')}/{PREFIXES[purpose]}/{token}"
    return DepartmentLink(url, purpose, department_id, occurrence_id, now + ttl)


def department_link(
    database_url: str,
    settings: Settings,
    department: str,
    occurrence_id: int | None = None,
    agreement_id: str | None = None,
) -> DepartmentLink:
    """A link for `department` (单位/部门 or its id); an occurrence it does not owe is unknown (`UnknownOccurrence`).

    The name is read within `agreement_id`, or else within the occurrence's agreement: short names repeat.
    """
    with session_scope(database_url) as session:
        if agreement_id is None and occurrence_id is not None:
            agreement_id = agreement_of(session, occurrence_id)
        dept = resolve_department(session, department, agreement_id)
        assert dept.id is not None
        if occurrence_id is not None:
            occurrence_for_department(session, dept.id, occurrence_id)
    return sign(settings, dept.id, occurrence_id)


@dataclass(frozen=True)
class DemoLinks:
    """The demo's pair of links for the open occurrence due soonest: its report form and its department's list."""

    who: str
    occurrence_id: int
    clause_title: str
    report: DepartmentLink
    listing: DepartmentLink


def demo_links(database_url: str, settings: Settings) -> DemoLinks | None:
    """Links to try the report form with, or None when no occurrence is open."""
    with session_scope(database_url) as session:
        found = next_open(session)
    if found is None:
        return None
    return DemoLinks(
        f"{found.party}{found.department}",
        found.occurrence_id,
        found.clause_title,
        sign(settings, found.department_id, found.occurrence_id),
        sign(settings, found.department_id, None),
    )
