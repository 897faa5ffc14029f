"""Coordinator operations on one occurrence: extend, suspend, resume, reopen, reassign, waive, cancel.

Each takes a required reason and a named `Coordinator`, re-checks the coordinator's token inside the transaction,
and writes the change, its ledger event (actor = the person) and the department's notice in that one transaction.
History is kept: the occurrence row changes, the ledger says from what to what and why; nothing is cloned.

Statuses: a suspended occurrence has status `suspended` — not open (the sweep, reminders and escalations skip it)
and not closed. Resuming shifts its due date by the days it was suspended, so the overdue clock has stopped.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any, Literal

from sqlmodel import Session

from coop.clock import today_in_shanghai
from coop.errors import CoopError, InvalidTransition, UnknownOccurrence
from coop.labels import status_label
from coop.ledger import EventDraft
from coop.occurrence_status import status_by_date
from coop.services.coordinators import Coordinator, authorise
from coop.store import ledger
from coop.store import operations as store
from coop.store.occurrences import MAX_NOTE, is_storable, resolve_department
from models.db import session_scope
from models.tables import OPEN_STATUSES, Occurrence, OccurrenceStatus, utcnow

Operation = Literal["extend", "suspend", "resume", "reopen", "reassign", "waive", "cancel"]
OPERATION_LABELS: dict[str, str] = {
    "extend": "延期",
    "suspend": "暂停",
    "resume": "恢复",
    "reopen": "重新打开",
    "reassign": "改派",
    "waive": "豁免",
    "cancel": "取消",
}
EVENT_KINDS: dict[str, str] = {
    "extend": "occurrence_extended",
    "suspend": "occurrence_suspended",
    "resume": "occurrence_resumed",
    "reopen": "occurrence_reopened",
    "reassign": "occurrence_reassigned",
    "waive": "occurrence_waived",
    "cancel": "occurrence_cancelled",
}


LATEST_DUE_DATE = dt.date(2100, 12, 31)


@dataclass(frozen=True)
class OperationResult:
    """What an operation did: the ledger event, and the occurrence's status and due date afterwards."""

    operation: str
    occurrence_id: int
    event_id: int
    actor: str
    status: str
    due_date: dt.date
    department_id: int


def extend(
    database_url: str,
    coordinator: Coordinator,
    occurrence_id: int,
    due_date: dt.date,
    reason: str,
    today: dt.date | None = None,
) -> OperationResult:
    """A later due date; reminders and escalations follow it (their keys carry the due date)."""
    today = today or today_in_shanghai()
    with session_scope(database_url) as session:
        occ, actor = _begin(session, coordinator, occurrence_id, reason, "extend")
        _require(occ, store.ACTIVE_STATUSES, "extend")
        _check_date(due_date)
        if due_date <= occ.due_date:
            raise CoopError(
                f"新的截止日期 {due_date} 应晚于当前截止日期 {occ.due_date} (an extension moves the due date later)"
            )
        before = {"due_date": str(occ.due_date), "status": str(occ.status)}
        if occ.planned_due_date is None:
            occ.planned_due_date = occ.due_date
        occ.due_date = due_date
        if occ.status in OPEN_STATUSES:
            occ.status = status_by_date(occ.window_start, due_date, today)
        after = {"due_date": str(occ.due_date), "status": str(occ.status)}
        return _finish(session, occ, actor, "extend", reason, {"before": before, "after": after}, "changed")


def suspend(
    database_url: str, coordinator: Coordinator, occurrence_id: int, reason: str, today: dt.date | None = None
) -> OperationResult:
    """Stop the overdue clock: a suspended task is neither overdue nor reminded nor escalated until resumed."""
    today = today or today_in_shanghai()
    with session_scope(database_url) as session:
        occ, actor = _begin(session, coordinator, occurrence_id, reason, "suspend")
        _require(occ, OPEN_STATUSES, "suspend")
        before = {"status": str(occ.status), "due_date": str(occ.due_date)}
        occ.status, occ.suspended_on = OccurrenceStatus.suspended, today
        extra = {"before": before, "after": {"status": "suspended", "since": str(today)}}
        return _finish(session, occ, actor, "suspend", reason, extra, "changed")


def resume(
    database_url: str,
    coordinator: Coordinator,
    occurrence_id: int,
    reason: str,
    today: dt.date | None = None,
    due_date: dt.date | None = None,
) -> OperationResult:
    """Restart the clock: the due date moves by the days suspended (or to `due_date`), the status follows the date."""
    today = today or today_in_shanghai()
    with session_scope(database_url) as session:
        occ, actor = _begin(session, coordinator, occurrence_id, reason, "resume")
        _require(occ, (OccurrenceStatus.suspended,), "resume")
        since = occ.suspended_on or today
        paused = max(0, (today - since).days)
        new_due = due_date or _shifted(occ.due_date, paused)
        _check_date(new_due)
        if new_due < occ.window_start:
            raise CoopError(f"新的截止日期 {new_due} 早于办理期开始 {occ.window_start} (due date before the window)")
        before = {"status": "suspended", "since": str(since), "due_date": str(occ.due_date)}
        if new_due != occ.due_date and occ.planned_due_date is None:
            occ.planned_due_date = occ.due_date
        occ.due_date, occ.suspended_on = new_due, None
        occ.status = status_by_date(occ.window_start, new_due, today)
        extra = {
            "before": before,
            "after": {"status": str(occ.status), "due_date": str(new_due)},
            "days_suspended": paused,
        }
        return _finish(session, occ, actor, "resume", reason, extra, "changed")


def reopen(
    database_url: str, coordinator: Coordinator, occurrence_id: int, reason: str, today: dt.date | None = None
) -> OperationResult:
    """A done task is open again (its reports stay, in the ledger and the report table); no copy is made."""
    today = today or today_in_shanghai()
    with session_scope(database_url) as session:
        occ, actor = _begin(session, coordinator, occurrence_id, reason, "reopen")
        _require(occ, (OccurrenceStatus.done,), "reopen")
        closed_at = occ.closed_at
        occ.status = status_by_date(occ.window_start, occ.due_date, today)
        occ.closed_at = None
        extra = {
            "before": {"status": "done", "closed_at": closed_at.isoformat() if closed_at else None},
            "after": {"status": str(occ.status), "due_date": str(occ.due_date)},
        }
        return _finish(session, occ, actor, "reopen", reason, extra, "changed")


def reassign(
    database_url: str, coordinator: Coordinator, occurrence_id: int, department: str, reason: str
) -> OperationResult:
    """Another department of a party to the same agreement owes the task from now on; the old one is kept on record."""
    with session_scope(database_url) as session:
        occ, actor = _begin(session, coordinator, occurrence_id, reason, "reassign")
        _require(occ, store.ACTIVE_STATUSES, "reassign")
        target = resolve_department(session, department, occ.agreement_id)
        assert target.id is not None
        if target.id == occ.department_id:
            raise CoopError(f"任务 #{occ.id} 已由 {department} 负责 (already this department's task)")
        if target.agency_id not in store.agreement_agencies(session, occ.agreement_id):
            raise CoopError(
                f"{department} 不是协议 {occ.agreement_id} 的签约方的部门，不能改派 "
                "(a task moves only between departments of the same agreement's parties)"
            )
        before = {"department_id": occ.department_id, "department": store.department_label(session, occ.department_id)}
        if occ.planned_department_id is None:
            occ.planned_department_id = occ.department_id
        previous = occ.department_id
        occ.department_id = target.id
        after = {"department_id": target.id, "department": store.department_label(session, target.id)}
        result = _finish(session, occ, actor, "reassign", reason, {"before": before, "after": after}, "planned")
        # The department that no longer owes it hears so too, with the same reason.
        store.add_operation_notice(session, occ, previous, "cancelled", result.event_id)
        return result


def waive(database_url: str, coordinator: Coordinator, occurrence_id: int, reason: str) -> OperationResult:
    """Release the department from one open or suspended task; it leaves the completion-rate base as waived."""
    return _close(database_url, coordinator, occurrence_id, reason, "waive", OccurrenceStatus.waived)


def cancel(database_url: str, coordinator: Coordinator, occurrence_id: int, reason: str) -> OperationResult:
    """Cancel one open or suspended task outside a re-plan (e.g. the event was called off)."""
    return _close(database_url, coordinator, occurrence_id, reason, "cancel", OccurrenceStatus.cancelled)


def apply(
    database_url: str,
    coordinator: Coordinator,
    operation: Operation,
    occurrence_id: int,
    reason: str,
    *,
    due_date: dt.date | None = None,
    department: str | None = None,
    today: dt.date | None = None,
) -> OperationResult:
    """One entry for forms that pick the operation (the Prefect flow); each branch is the function above."""
    if operation == "extend":
        if due_date is None:
            raise CoopError("延期必须给出新的截止日期 (extend needs a new due date)")
        return extend(database_url, coordinator, occurrence_id, due_date, reason, today)
    if operation == "suspend":
        return suspend(database_url, coordinator, occurrence_id, reason, today)
    if operation == "resume":
        return resume(database_url, coordinator, occurrence_id, reason, today, due_date)
    if operation == "reopen":
        return reopen(database_url, coordinator, occurrence_id, reason, today)
    if operation == "reassign":
        if not department:
            raise CoopError("改派必须给出新的责任部门 (reassign needs the new department)")
        return reassign(database_url, coordinator, occurrence_id, department, reason)
    if operation == "waive":
        return waive(database_url, coordinator, occurrence_id, reason)
    if operation == "cancel":
        return cancel(database_url, coordinator, occurrence_id, reason)
    raise CoopError(f"未知操作 {operation} (unknown operation)")


def _close(
    database_url: str,
    coordinator: Coordinator,
    occurrence_id: int,
    reason: str,
    operation: Operation,
    status: OccurrenceStatus,
) -> OperationResult:
    with session_scope(database_url) as session:
        occ, actor = _begin(session, coordinator, occurrence_id, reason, operation)
        _require(occ, store.ACTIVE_STATUSES, operation)
        extra: dict[str, Any] = {"previous_status": str(occ.status), "key": occ.key}
        occ.status, occ.closed_at, occ.suspended_on = status, utcnow(), None
        return _finish(session, occ, actor, operation, reason, extra, "cancelled")


def _check_date(day: dt.date) -> None:
    if not LATEST_DUE_DATE.year - 100 <= day.year <= LATEST_DUE_DATE.year:
        raise CoopError(f"截止日期 {day} 不合理，应在 {LATEST_DUE_DATE} 之前 (due date out of range)")


def _shifted(day: dt.date, days: int) -> dt.date:
    try:
        return day + dt.timedelta(days=days)
    except OverflowError:
        return dt.date.max


def _begin(
    session: Session, coordinator: Coordinator, occurrence_id: int, reason: str, operation: str
) -> tuple[Occurrence, str]:
    """Check the reason, lock the occurrence, and check the coordinator may act on its agreement."""
    verb = OPERATION_LABELS[operation]
    if not reason or not reason.strip():
        raise CoopError(f"{verb}必须说明理由 (a reason is required)")
    if len(reason) > MAX_NOTE or not is_storable(reason):
        raise CoopError(f"理由不能超过 {MAX_NOTE} 字，且不能含控制字符 (reason too long or contains NUL)")
    occ = store.locked_occurrence(session, occurrence_id)
    if occ is None:
        raise UnknownOccurrence(occurrence_id)
    return occ, authorise(session, coordinator, occ.agreement_id)


def _require(occ: Occurrence, allowed: Collection[OccurrenceStatus], operation: str) -> None:
    if occ.status not in allowed:
        shown = status_label(str(occ.status))
        raise InvalidTransition(
            f"任务 #{occ.id} 当前状态为“{shown}”，不能{OPERATION_LABELS[operation]} "
            f"(cannot {operation} an occurrence that is {occ.status})"
        )


def _finish(
    session: Session,
    occ: Occurrence,
    actor: str,
    operation: Operation,
    reason: str,
    extra: dict[str, Any],
    notice_kind: str,
) -> OperationResult:
    """Ledger event, row update and department notice, all in the caller's transaction."""
    assert occ.id is not None
    payload = {"operation": operation, "reason": reason, **extra}
    [event_id] = ledger.append(session, [EventDraft(EVENT_KINDS[operation], actor, payload, occ.agreement_id, occ.id)])
    occ.updated_at = utcnow()
    session.add(occ)
    store.add_operation_notice(session, occ, occ.department_id, notice_kind, event_id)
    session.flush()
    return OperationResult(operation, occ.id, event_id, actor, str(occ.status), occ.due_date, occ.department_id)
