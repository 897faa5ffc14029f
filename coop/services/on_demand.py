"""Open one occurrence of an on-demand clause (`recurrence: {on_demand: true}`): 按需开展的任务由协调人发起.

An on-demand duty ("按需开展利益调处") has no dates in the plan. When it arises, a named coordinator opens an
occurrence for one department of the agreement with a due window (or a department responsible for the clause opens
one for itself); the row, its ledger event and the department's notice land in one transaction, and from then on it
is an ordinary task: reported, reminded, swept, counted in the rates. A re-plan leaves opened occurrences alone
(`coop.planning.diff`, `opened_clauses`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlmodel import Session, col

from coop.clock import today_in_shanghai
from coop.errors import CoopError, Forbidden
from coop.ledger import EventDraft
from coop.occurrence_status import status_by_date
from coop.services.coordinators import Coordinator, authorise
from coop.store import ledger
from coop.store import operations as store
from coop.store.occurrences import MAX_NOTE, is_storable, resolve_department
from coop.store.parties import agreement_agencies
from models.db import session_scope
from models.tables import AgreementRecord, AgreementVersion, ClauseRecord, Department, Occurrence, utcnow

EVENT_KIND = "occurrence_opened"
DEFAULT_WINDOW_DAYS = 14  # the schema's default `window_days`, for a clause stored without one
MAX_WINDOW_DAYS = 366


@dataclass(frozen=True)
class OpenedOccurrence:
    """What opening did: the new occurrence, its key and dates, and the ledger event that records it."""

    occurrence_id: int
    key: str
    event_id: int
    actor: str
    department_id: int
    window_start: dt.date
    due_date: dt.date
    status: str


def open_on_demand(
    database_url: str,
    coordinator: Coordinator,
    agreement_id: str,
    clause: str,
    department: str,
    reason: str,
    *,
    due_date: dt.date | None = None,
    today: dt.date | None = None,
) -> OpenedOccurrence:
    """Open an occurrence of on-demand `clause` for `department` (单位/部门 or its id), due `due_date`.

    Without `due_date` it is due `window_days` (the clause's) after today; it opens today either way.
    """
    _check_reason(reason)
    with session_scope(database_url) as session:
        actor = authorise(session, coordinator, agreement_id)
        return _open(session, actor, agreement_id, clause, department, reason, due_date, today or today_in_shanghai())


def open_on_demand_for_department(
    database_url: str,
    department_id: int,
    actor: str,
    agreement_id: str,
    clause: str,
    reason: str,
    *,
    due_date: dt.date | None = None,
    today: dt.date | None = None,
) -> OpenedOccurrence:
    """A department opens an occurrence of on-demand `clause` for itself: only of a clause its party answers for
    (the responsible party, or every party under `each_party`)."""
    _check_reason(reason)
    with session_scope(database_url) as session:
        return _open(
            session,
            actor,
            agreement_id,
            clause,
            str(department_id),
            reason,
            due_date,
            today or today_in_shanghai(),
            own_department=department_id,
        )


def _check_reason(reason: str) -> None:
    if not reason or not reason.strip():
        raise CoopError("发起按需任务必须说明理由（如：何事触发） (a reason is required)")
    if len(reason) > MAX_NOTE or not is_storable(reason):
        raise CoopError(f"理由不能超过 {MAX_NOTE} 字，且不能含控制字符 (reason too long or contains NUL)")


def _open(
    session: Session,
    actor: str,
    agreement_id: str,
    clause: str,
    department: str,
    reason: str,
    due_date: dt.date | None,
    today: dt.date,
    *,
    own_department: int | None = None,
) -> OpenedOccurrence:
    record = session.get(AgreementRecord, agreement_id, with_for_update=True)  # serialises keys of one agreement
    if record is None:
        raise CoopError(f"未知协议 '{agreement_id}'；请先计划该协议 (unknown agreement)")
    row = _clause(session, agreement_id, clause)
    if not record.term_start <= today <= record.term_end:
        raise CoopError(
            f"发起日 {today} 不在协议期 {record.term_start} – {record.term_end} 内，不能发起按需任务 "
            "(today is outside the agreement's term)"
        )
    window = _window_days(row)
    due = due_date or min(today + dt.timedelta(days=window), record.term_end)
    if due < today:
        raise CoopError(f"截止日期 {due} 早于发起日 {today} (due date before today)")
    if (due - today).days > MAX_WINDOW_DAYS:
        raise CoopError(f"截止日期 {due} 距发起日超过 {MAX_WINDOW_DAYS} 天 (due window too long)")
    if due > record.term_end:
        raise CoopError(
            f"截止日期 {due} 晚于协议期结束日 {record.term_end}；请写协议期内的日期 (due date after the term ends)"
        )
    dept = resolve_department(session, department, agreement_id)
    if dept.agency_id not in agreement_agencies(session, agreement_id).values():
        raise Forbidden(f"部门 '{department}' 不属于协议 {agreement_id} 的任何一方 (department not in agreement)")
    if own_department is not None and not _answers_for(session, record, clause, dept):
        raise Forbidden(
            f"本部门不是协议 {agreement_id} 条款 {clause} 的责任部门，不能发起该条款的任务；请联系协调人 "
            "(only the clause's responsible department may open it)"
        )
    assert row.id is not None and dept.id is not None
    occ = Occurrence(
        agreement_id=agreement_id,
        clause_id=row.id,
        key=_free_key(session, agreement_id, f"{clause}@{today.isoformat()}"),
        nominal_date=today,
        due_date=due,
        window_start=today,
        host=None,
        department_id=dept.id,
        status=status_by_date(today, due, today),
        targets=dict(row.targets),
        version=record.version,
    )
    session.add(occ)
    session.flush()
    assert occ.id is not None
    payload = {
        "operation": "open_on_demand",
        "reason": reason,
        "clause": clause,
        "department": store.department_label(session, dept.id),
        "department_id": dept.id,
        "window_start": str(today),
        "due_date": str(due),
        "status": str(occ.status),
    }
    [event_id] = ledger.append(session, [EventDraft(EVENT_KIND, actor, payload, agreement_id, occ.id)])
    occ.updated_at = utcnow()
    store.add_operation_notice(session, occ, dept.id, "planned", event_id)
    session.flush()
    return OpenedOccurrence(occ.id, occ.key, event_id, actor, dept.id, today, due, str(occ.status))


def _answers_for(session: Session, record: AgreementRecord, code: str, dept: Department) -> bool:
    """Whether `dept` is a responsible department of clause `code` in the agreement's current text."""
    document = session.execute(
        select(col(AgreementVersion.document)).where(
            col(AgreementVersion.agreement_id) == record.id, col(AgreementVersion.version) == record.version
        )
    ).scalar_one_or_none()
    if not document:
        return False
    parties = {p.get("name"): p for p in document.get("parties") or []}
    clause = next(
        (c for p in document.get("programmes") or [] for c in p.get("clauses") or [] if str(c.get("id")) == code),
        None,
    )
    if clause is None:
        return False
    responsible = clause.get("responsible") or {}
    named = list(parties) if responsible.get("each_party") else [responsible.get("party")]
    agencies = agreement_agencies(session, record.id)
    for name in [str(n) for n in named if n]:
        party = parties.get(name)
        if party is None or agencies.get(name) != dept.agency_id:
            continue
        if (responsible.get("department") or party.get("coordinator")) in (dept.name, dept.key):
            return True
    return False


def _clause(session: Session, agreement_id: str, code: str) -> ClauseRecord:
    row: ClauseRecord | None = session.execute(
        select(ClauseRecord).where(col(ClauseRecord.agreement_id) == agreement_id, col(ClauseRecord.code) == code)
    ).scalar_one_or_none()
    if row is None or not row.active:
        raise CoopError(f"协议 {agreement_id} 没有（有效的）条款 {code} (unknown clause)")
    if row.recurrence.get("on_demand") is not True:
        raise CoopError(
            f"条款 {code} 不是按需开展条款（recurrence 未写 on_demand: true），其任务由计划生成 "
            "(only on-demand clauses are opened by hand)"
        )
    return row


def _window_days(row: ClauseRecord) -> int:
    value = row.recurrence.get("window_days", DEFAULT_WINDOW_DAYS)
    return value if isinstance(value, int) and not isinstance(value, bool) else DEFAULT_WINDOW_DAYS


def _free_key(session: Session, agreement_id: str, stem: str) -> str:
    """`clause@date`, or `clause@date#2`, `#3` … when the clause was already opened that day."""
    taken = set(
        session.execute(
            select(col(Occurrence.key)).where(
                col(Occurrence.agreement_id) == agreement_id, col(Occurrence.key).startswith(stem)
            )
        ).scalars()
    )
    if stem not in taken:
        return stem
    n = 2
    while f"{stem}#{n}" in taken:
        n += 1
    return f"{stem}#{n}"
