"""Calendar feeds: sign a department's (or a coordinator's per-agreement) iCalendar URL, revoke it, serve it.

A feed URL signs (scope, version) with the link key under purpose "ical" and does not expire, since calendars poll
for months; revoking bumps the feed's version in the same transaction as its ledger event, so every earlier URL
is refused (410) and the next `coop feed url` signs a new one.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlmodel import Session

from coop.access import link_for, signer
from coop.errors import CoopError, FeedRevoked, LinkInvalid
from coop.ical import FeedItem, render
from coop.ledger import EventDraft
from coop.settings import Settings
from coop.store import feeds as store
from coop.store import ledger
from coop.store.access import department_view
from coop.store.occurrences import resolve_department
from models.db import session_scope
from models.tables import AgreementRecord, utcnow

# How long a cancelled or waived task stays in a feed as STATUS:CANCELLED, so subscribed calendars see it withdrawn.
WITHDRAWN_DAYS = 60
MAX_REASON = 500


@dataclass(frozen=True)
class FeedUrl:
    url: str
    scope: str
    version: int
    name: str


def feed_url(
    database_url: str,
    settings: Settings,
    actor: str,
    department: str | None = None,
    agreement_id: str | None = None,
) -> FeedUrl:
    """The feed URL of `department` (单位/部门 or its id, read within `agreement_id` if given), or else the coordinator
    feed of `agreement_id`. The first URL of a feed is recorded in the ledger; later calls sign the same one."""
    with session_scope(database_url) as session:
        scope, name, agreement = _scope(session, department, agreement_id)
        row = store.locked_feed(session, scope)
        if row is None:
            row = store.create_feed(session, scope)
            payload = {"scope": scope, "version": row.version}
            ledger.append(session, [EventDraft("calendar_feed_issued", actor, payload, agreement)])
        version = row.version
    token = signer(settings).issue_feed(scope, version)
    return FeedUrl(f"{settings.public_base_url.rstrip('/')}/ical/{token}.ics", scope, version, name)


def revoke_feed(
    database_url: str,
    actor: str,
    reason: str,
    department: str | None = None,
    agreement_id: str | None = None,
) -> FeedUrl:
    """Refuse every URL of the feed issued so far (the ledger says who and why); returns the feed at its new version,
    with no URL — whoever should subscribe again asks for one with `coop feed url`."""
    if not reason or not reason.strip() or len(reason) > MAX_REASON:
        raise CoopError(f"撤销日历订阅必须说明理由（不超过 {MAX_REASON} 字） (a reason is required)")
    with session_scope(database_url) as session:
        scope, name, agreement = _scope(session, department, agreement_id)
        row = store.locked_feed(session, scope)
        if row is None:
            raise CoopError(f"{name} 还没有发放过日历订阅链接，无需撤销 (no calendar feed issued for {scope})")
        revoked = row.version
        store.bump(session, row)
        payload = {"scope": scope, "revoked_version": revoked, "version": row.version, "reason": reason}
        ledger.append(session, [EventDraft("calendar_feed_revoked", actor, payload, agreement)])
        return FeedUrl("", scope, row.version, name)


def feed_ics(database_url: str, settings: Settings, token: str, now: dt.datetime | None = None) -> bytes:
    """The .ics document a feed token names; a bad token is `LinkInvalid` (404), a revoked one `FeedRevoked` (410)."""
    claims = signer(settings).read_feed(token)
    now = now or utcnow()
    since = now - dt.timedelta(days=WITHDRAWN_DAYS)
    kind, _, ident = claims.scope.partition(":")
    with session_scope(database_url) as session:
        row = store.feed(session, claims.scope)
        if row is None or claims.version > row.version:
            raise LinkInvalid()
        if claims.version < row.version:
            raise FeedRevoked()
        if kind == "department":
            department_id = int(ident)
            view = department_view(session, department_id)
            if view is None:
                raise LinkInvalid()
            name = f"协作通 · {view.party}/{view.name}"
            rows = store.department_rows(session, department_id, since)
        elif kind == "agreement":
            agreement = session.get(AgreementRecord, ident)
            if agreement is None:
                raise LinkInvalid()
            name = f"协作通 · {agreement.title}（协调人）"
            rows = store.agreement_rows(session, ident, since)
        else:
            raise LinkInvalid()
    # A department's feed carries each task's report link for that department; the coordinator's feed none.
    report_link = link_for(settings) if kind == "department" else None
    items = [
        FeedItem(
            occurrence_id=r.occurrence_id,
            agreement_id=r.agreement_id,
            key=r.key,
            title=r.clause_title,
            agreement_title=r.agreement_title,
            window_start=r.window_start,
            due_date=r.due_date,
            status=r.status,
            sequence=r.changes,
            updated_at=r.updated_at,
            who=r.who,
            location=r.location,
            host=r.host,
            link=report_link(r.occurrence_id, int(ident)) if report_link is not None else None,
        )
        for r in rows
    ]
    return render(name, items, now)


def _scope(session: Session, department: str | None, agreement_id: str | None) -> tuple[str, str, str | None]:
    """(feed scope, who it is for, the agreement its ledger events name) for a department or an agreement."""
    if department is not None:
        dept = resolve_department(session, department, agreement_id)
        assert dept.id is not None
        view = department_view(session, dept.id)
        return store.department_scope(dept.id), f"{view.party}/{view.name}" if view else department, agreement_id
    if agreement_id is None:
        raise CoopError("请指定部门（--department 单位/部门）或协议（--agreement 协议编号） (department or agreement)")
    agreement = session.get(AgreementRecord, agreement_id)
    if agreement is None:
        raise CoopError(f"未找到协议 {agreement_id}，请先计划该协议 (unknown agreement)")
    return store.agreement_scope(agreement_id), f"{agreement.title}（协调人）", agreement_id
