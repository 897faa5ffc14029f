"""Named coordinators: per-person tokens, optionally limited to listed agreements, issued and revoked in the ledger.

`COOP_COORDINATOR_TOKEN` only bootstraps: while no named coordinator token is live it may issue the first one,
and nothing else. Every later change is made by a named person, whose name is the ledger event's actor. Department
and auditor tokens expire too, and their issue and revocation are ledgered the same way.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlmodel import Session, col

from coop.access import Principal, Role, coordinator_actor, new_token, token_digest
from coop.errors import CoopError, Forbidden
from coop.ledger import EventDraft
from coop.store import ledger
from coop.store import operations as store
from coop.store.occurrences import is_storable, resolve_department
from models.db import session_scope
from models.read import ApiTokenPublic
from models.tables import Agency, AgreementRecord, ApiToken, Department, utcnow

BOOTSTRAP_ACTOR = "COOP_COORDINATOR_TOKEN（初始协调人令牌）"
DEFAULT_TTL_DAYS = 180
MAX_TTL_DAYS = 730
MAX_PERSON = 100


class TokenRefused(Forbidden):
    """A coordinator token that is unknown, revoked, expired, or does not reach the agreement concerned."""


@dataclass(frozen=True)
class Coordinator:
    """A named coordinator as authenticated: the person, their token, and the agreements they may act on."""

    token_id: int
    person: str
    agreements: frozenset[str] = frozenset()  # empty = every agreement

    @property
    def actor(self) -> str:
        return coordinator_actor(self.person, self.token_id)

    def reaches(self, agreement_id: str) -> bool:
        return not self.agreements or agreement_id in self.agreements


@dataclass(frozen=True)
class IssuedToken:
    """A token as issued: the secret is shown this once; only its hash is stored."""

    id: int
    token: str
    role: str
    label: str
    person: str | None
    department: str | None
    agreements: list[str]
    expires_at: dt.datetime
    event_id: int


def coordinator_from_principal(principal: Principal) -> Coordinator:
    """The named coordinator behind an API caller; the bootstrap token and other roles are refused."""
    if principal.role != Role.coordinator or principal.token_id is None or principal.person is None:
        raise Forbidden(
            "此操作需要具名协调人令牌；COOP_COORDINATOR_TOKEN 只能用于签发第一个协调人令牌 "
            "(a named coordinator token is required; the shared token only bootstraps the first one)"
        )
    return Coordinator(principal.token_id, principal.person, principal.agreements)


def coordinator_named(database_url: str, person: str, now: dt.datetime | None = None) -> Coordinator:
    """The live coordinator token of `person` (the newest if several), for the CLI and flows that name who acts."""
    with session_scope(database_url) as session:
        rows = store.live_coordinator_tokens(session, now or utcnow(), person=person.strip())
    if not rows:
        raise TokenRefused(
            f"没有协调人“{person}”的有效令牌（未签发、已撤销或已过期）；请先用 coop op token issue 签发 "
            "(no live coordinator token for this person)"
        )
    row = rows[-1]
    assert row.id is not None and row.person is not None
    return Coordinator(row.id, row.person, frozenset(row.agreements or ()))


def authorise(session: Session, coordinator: Coordinator, agreement_id: str | None = None) -> str:
    """Inside the operation's transaction: the token is still live and reaches the agreement; returns the actor."""
    row = store.token(session, coordinator.token_id)
    now = utcnow()
    if row is None or row.role != store.COORDINATOR:
        raise TokenRefused(f"协调人令牌 #{coordinator.token_id} 不存在 (unknown coordinator token)")
    if row.revoked_at is not None:
        raise TokenRefused(f"协调人令牌 #{row.id}（{row.person}）已撤销 (coordinator token revoked)")
    if row.expires_at is not None and row.expires_at <= now:
        raise TokenRefused(
            f"协调人令牌 #{row.id}（{row.person}）已于 {_local(row.expires_at)} 过期 (coordinator token expired)"
        )
    scope = frozenset(row.agreements or ())
    if agreement_id is not None and scope and agreement_id not in scope:
        raise TokenRefused(
            f"协调人 {row.person} 只负责协议 {'、'.join(sorted(scope))}，不能操作协议 {agreement_id} 的任务 "
            "(this coordinator is limited to other agreements)"
        )
    return coordinator_actor(row.person or coordinator.person, coordinator.token_id)


def issue_coordinator_token(
    database_url: str,
    person: str,
    issued_by: Coordinator | None,
    *,
    agreements: Iterable[str] = (),
    ttl_days: int = DEFAULT_TTL_DAYS,
    now: dt.datetime | None = None,
) -> IssuedToken:
    """A token for one named person. `issued_by=None` is the bootstrap: allowed only while no coordinator is live."""
    person = _person(person)
    scope = sorted({a.strip() for a in agreements if a.strip()})
    now = now or utcnow()
    expires_at = now + dt.timedelta(days=_ttl(ttl_days))
    with session_scope(database_url) as session:
        actor = BOOTSTRAP_ACTOR if issued_by is None else authorise(session, issued_by)
        if issued_by is not None and issued_by.agreements and (not scope or not set(scope) <= issued_by.agreements):
            raise Forbidden(
                f"协调人 {issued_by.person} 只负责协议 {'、'.join(sorted(issued_by.agreements))}，"
                "只能签发限于这些协议的令牌 (a limited coordinator can only issue tokens within its scope)"
            )
        _check_agreements(session, scope)
        secret = new_token()
        row = store.add_token(
            session,
            token_digest(secret),
            store.COORDINATOR,
            f"协调人 {person}",
            person=person,
            agreements=scope,
            expires_at=expires_at,
        )
        assert row.id is not None
        payload = {
            "token_id": row.id,
            "role": "coordinator",
            "person": person,
            "agreements": scope,
            "expires_at": expires_at.isoformat(),
        }
        # The append takes the ledger head lock, so of two bootstraps at once the second sees the first's token.
        [event_id] = ledger.append(session, [EventDraft("token_issued", actor, payload)])
        if issued_by is None and len(store.live_coordinator_tokens(session, now)) > 1:
            raise Forbidden(
                "已有具名协调人，COOP_COORDINATOR_TOKEN 不能再签发令牌；请由现任协调人签发 "
                "(the shared token only bootstraps the first coordinator)"
            )
    return IssuedToken(row.id, secret, row.role, row.label, person, None, scope, expires_at, event_id)


def issue_access_token(
    database_url: str,
    role: Role,
    label: str,
    actor: str,
    *,
    department: str | None = None,
    agreement_id: str | None = None,
    ttl_days: int = DEFAULT_TTL_DAYS,
    now: dt.datetime | None = None,
) -> IssuedToken:
    """A department or auditor token with an expiry, its issue recorded in the ledger under `actor`.

    `agreement_id` scopes the department's short name (two provinces' 省委社会工作部 are different departments).
    """
    if role not in (Role.department, Role.auditor):
        raise CoopError("协调人令牌请用 issue_coordinator_token 签发 (use issue_coordinator_token for coordinators)")
    if (role == Role.department) != (department is not None):
        raise CoopError(
            "部门令牌必须指定部门，审计令牌不能指定部门 "
            "(a department token names its department; an auditor token does not)"
        )
    label = label.strip()[:200] or str(role)
    if not is_storable(label):
        raise CoopError("令牌说明含有不允许的字符 (label contains NUL or an unpaired surrogate)")
    now = now or utcnow()
    expires_at = now + dt.timedelta(days=_ttl(ttl_days))
    with session_scope(database_url) as session:
        dept = resolve_department(session, department, agreement_id) if department is not None else None
        name = _department_name(session, dept) if dept is not None else None
        secret = new_token()
        row = store.add_token(
            session,
            token_digest(secret),
            str(role),
            label,
            department_id=dept.id if dept else None,
            expires_at=expires_at,
        )
        assert row.id is not None
        payload = {
            "token_id": row.id,
            "role": str(role),
            "label": label,
            "department_id": dept.id if dept else None,
            "department": name,
            "expires_at": expires_at.isoformat(),
        }
        [event_id] = ledger.append(session, [EventDraft("token_issued", actor, payload)])
    return IssuedToken(row.id, secret, row.role, row.label, None, name, [], expires_at, event_id)


def revoke_token(
    database_url: str, token_id: int, reason: str, revoked_by: Coordinator | None, actor: str | None = None
) -> int:
    """Revoke any token, with a reason, in the ledger; a coordinator limited to agreements revokes only within them.

    `revoked_by=None` is an operator at the command line, recorded as `actor`.
    """
    _reason(reason)
    with session_scope(database_url) as session:
        row = store.token(session, token_id, lock=True)
        if row is None:
            raise CoopError(f"找不到令牌 #{token_id} (unknown token id)")
        if revoked_by is not None:
            actor = authorise(session, revoked_by)
            if revoked_by.agreements and (
                row.role != store.COORDINATOR or not row.agreements or not set(row.agreements) <= revoked_by.agreements
            ):
                raise Forbidden(
                    f"协调人 {revoked_by.person} 只能撤销限于自己负责协议的协调人令牌 "
                    "(a limited coordinator revokes only coordinator tokens within its scope)"
                )
        if not actor or not actor.strip():
            raise CoopError("撤销令牌必须注明操作人 (who revokes the token must be named)")
        if row.revoked_at is not None:
            raise CoopError(f"令牌 #{token_id} 已于 {_local(row.revoked_at)} 撤销 (already revoked)")
        payload = {"token_id": token_id, "role": row.role, "label": row.label, "person": row.person, "reason": reason}
        [event_id] = ledger.append(session, [EventDraft("token_revoked", actor, payload)])
        row.revoked_at = utcnow()
        session.add(row)
    return event_id


def list_tokens(database_url: str, now: dt.datetime | None = None) -> list[ApiTokenPublic]:
    """Every token (never its secret), each saying whether it is still accepted at `now`."""
    now = now or utcnow()
    with session_scope(database_url) as session:
        return [
            ApiTokenPublic.model_validate(
                r, update={"id": r.id or 0, "agreements": list(r.agreements or []), "live": _live(r, now)}
            )
            for r in store.tokens(session)
        ]


def _live(token: ApiToken, now: dt.datetime) -> bool:
    return token.revoked_at is None and (token.expires_at is None or token.expires_at > now)


def _person(person: str) -> str:
    person = person.strip()
    if not person:
        raise CoopError("协调人令牌必须写明持有人姓名 (a coordinator token names its holder)")
    if len(person) > MAX_PERSON or not is_storable(person) or not person.isprintable():
        raise CoopError(f"持有人姓名不能超过 {MAX_PERSON} 字，且不能含控制字符 (invalid person name)")
    return person


def _ttl(days: int) -> int:
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_TTL_DAYS:
        raise CoopError(f"令牌有效期应为 1–{MAX_TTL_DAYS} 天（收到 {days}） (token lifetime in days)")
    return days


def _reason(reason: str) -> None:
    if not reason.strip():
        raise CoopError("必须说明理由 (a reason is required)")
    if len(reason) > 2000 or not is_storable(reason):
        raise CoopError("理由不能超过 2000 字，且不能含控制字符 (reason too long or contains NUL)")


def _check_agreements(session: Session, scope: list[str]) -> None:
    if not scope:
        return
    known = set(session.execute(select(col(AgreementRecord.id)).where(col(AgreementRecord.id).in_(scope))).scalars())
    unknown = [a for a in scope if a not in known]
    if unknown:
        raise CoopError(f"未知协议 {'、'.join(unknown)}（请先计划该协议） (unknown agreement id)")


def _department_name(session: Session, dept: Department) -> str:
    agency = session.get(Agency, dept.agency_id)
    return f"{agency.name if agency else ''}/{dept.name}"


def _local(moment: dt.datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return f"{moment.astimezone(dt.timezone(dt.timedelta(hours=8))):%Y-%m-%d %H:%M}"
