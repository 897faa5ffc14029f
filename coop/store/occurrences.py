"""State changes of single occurrences (completion, waiver) and the daily status sweep."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping

from sqlalchemy import or_, select, update
from sqlmodel import Session, col

from coop.clock import today_in_shanghai
from coop.errors import CoopError, Forbidden, InvalidTransition, UnknownOccurrence
from coop.ledger import EventDraft
from coop.occurrence_status import SweepResult, status_on
from coop.report import CompletionReport
from coop.store import joint, ledger
from coop.store.citations import cite
from coop.store.parties import department_by_name, party_key
from models.tables import (
    OPEN_STATUSES,
    ClauseRecord,
    Department,
    Occurrence,
    OccurrenceStatus,
    Report,
    utcnow,
)

MAX_METRIC = 10**8
MAX_EVIDENCE = 50
MAX_NOTE = 2000
EVIDENCE_LINK = re.compile(r"^https?://[^\s]{1,490}$")
EVIDENCE_FILE = re.compile(r"^sha256:([0-9a-f]{64})$")


def resolve_department(session: Session, ref: str, agreement_id: str | None = None) -> Department:
    """`单位/部门` as an agreement names it (within `agreement_id` when given), `单位标识/部门`, or the numeric id.

    Short names repeat across agreements (two provinces' 省委社会工作部): a name that means several departments
    is refused with the keys that tell them apart, never resolved to whichever comes first.
    """
    dept = None
    if not is_storable(ref):
        pass
    elif ref.isascii() and ref.isdigit():  # not isdigit alone: '²' is a digit that int() refuses
        dept = session.get(Department, int(ref)) if int(ref) < 2**31 else None
    else:
        party, _, name = ref.rpartition("/")
        found = department_by_name(session, party, name, agreement_id)
        if len(found) > 1:
            keys = sorted(filter(None, (party_key(session, did) for did in found)))
            raise Forbidden(
                f"部门 '{ref}' 不唯一：多个协议的单位同名，请写单位标识，如 {keys[0]}/{name}（可选：{'、'.join(keys)}）"
                " (ambiguous department; name its party by key)"
            )
        dept = session.get(Department, found[0]) if found else None
    if dept is None:
        raise Forbidden(f"未知部门 '{ref}' (unknown department; write it as 党派/部门, e.g. 渝北区/区委社会工作部)")
    return dept


def agreement_of(session: Session, occurrence_id: int) -> str | None:
    """The agreement an occurrence belongs to (scope for a department name), or None for an unknown id."""
    if isinstance(occurrence_id, bool) or not isinstance(occurrence_id, int) or not 0 < occurrence_id < 2**31:
        return None
    occ = session.get(Occurrence, occurrence_id)
    return occ.agreement_id if occ is not None else None


def _locked(session: Session, occurrence_id: int) -> Occurrence | None:
    """The occurrence, row-locked; an id no row can have is simply unknown (the databases would raise instead)."""
    if isinstance(occurrence_id, bool) or not isinstance(occurrence_id, int) or not 0 < occurrence_id < 2**31:
        return None
    return session.get(Occurrence, occurrence_id, with_for_update=True)


def record_completion(session: Session, report: CompletionReport, actor: str, *, coordinator: bool = False) -> int:
    """Apply a report and append its ledger event in the same transaction; returns the event id.

    `coordinator`: the caller sees every department's tasks (`coop done`), so naming the wrong department is
    answered as such; a department's own API gets the same answer as for an unknown id.
    """
    _validate(report)
    occ = _locked(session, report.occurrence_id)
    if occ is None:
        raise UnknownOccurrence(report.occurrence_id)
    dept = resolve_department(session, report.department, occ.agreement_id)
    assert dept.id is not None
    clause = session.get(ClauseRecord, occ.clause_id)
    assert clause is not None
    part = joint.part_of(session, occ, clause, dept.id)
    if part is None:
        if coordinator:
            owner = session.get(Department, occ.department_id)
            raise Forbidden(
                f"任务 #{occ.id} 属于另一个部门（{owner.name if owner else occ.department_id}），"
                f"不是 {report.department}；请用其责任部门报告"
                " (the occurrence belongs to another department)"
            )
        # Same answer as an unknown id: a department must not learn what others owe.
        raise UnknownOccurrence(report.occurrence_id)
    # untracked history (before tracking_from) may still be reported; once done it counts in the rates
    if occ.status not in OPEN_STATUSES and occ.status != OccurrenceStatus.untracked:
        raise InvalidTransition(f"任务 #{occ.id} 当前状态为 {occ.status}，不能再报告完成 (occurrence is {occ.status})")
    parts = joint.required_parts(session, occ, clause)
    done_parts = joint.parts_done(session, occ) if len(parts) > 1 else set()
    if report.outcome == "done" and part in done_parts:
        raise InvalidTransition(
            f"任务 #{occ.id} 中{parts[part]}的部分已报告完成，不能重复报告 (this party's part is already done)"
        )
    unknown = sorted(set(report.metrics) - set(clause.targets))
    if unknown:
        known = ", ".join(sorted(clause.targets)) or "无"
        raise CoopError(
            f"条款 {clause.code} 没有指标 {', '.join(unknown)} (unknown metric; this clause tracks: {known})"
        )
    _check_evidence_files(session, report.evidence, None if coordinator else dept.id)
    metrics = counted_metrics(report.participants, report.metrics, clause.targets)
    now = utcnow()
    on_time = today_in_shanghai(now) <= occ.due_date
    payload = {
        "outcome": report.outcome,
        "participants": report.participants,
        "metrics": metrics,
        "evidence": report.evidence,
        "note": report.note,
        "department_id": dept.id,
        "due_date": str(occ.due_date),
        "on_time": on_time,
        "previous_status": str(occ.status),
    }
    kind = {"done": "occurrence_done", "partial": "occurrence_progress", "cannot": "occurrence_cannot_do"}[
        report.outcome
    ]
    closes = report.outcome == "done"
    if len(parts) > 1:
        # A joint task: this report is one party's part; the task is done once every party's part is in.
        finished = done_parts | ({part} if report.outcome == "done" else set())
        closes = report.outcome == "done" and finished >= set(parts)
        payload |= {
            "part": parts[part],
            "parts_done": sorted(parts[p] for p in finished if p in parts),
            "parts_required": sorted(parts.values()),
        }
        if report.outcome == "done" and not closes:
            kind = "occurrence_part_done"
    [event_id] = ledger.append(session, [EventDraft(kind, actor, payload, occ.agreement_id, occ.id)])
    if closes:
        occ.status, occ.closed_at = OccurrenceStatus.done, now
    occ.updated_at = now
    session.add(occ)
    assert occ.id is not None  # a stored occurrence
    session.add(
        Report(
            occurrence_id=occ.id,
            department_id=dept.id,
            party_id=part if len(parts) > 1 else None,
            outcome=report.outcome,
            participants=report.participants,
            metrics=metrics,
            evidence=report.evidence,
            note=report.note,
            event_id=event_id,
            at=now,
        )
    )
    session.flush()
    return event_id


def counted_metrics(participants: int | None, metrics: dict[str, int], targets: dict[str, int]) -> dict[str, int]:
    """What a report adds toward the clause's targets: the head count is the `participants` metric too.

    `coop done --participants 45` and a backfill row's 参与人数 count toward `targets.participants`, as the web
    form's single participants field does; a metric written explicitly wins.
    """
    if participants is None or "participants" not in targets or "participants" in metrics:
        return dict(metrics)
    return {**metrics, "participants": participants}


def _validate(report: CompletionReport) -> None:
    if report.outcome not in ("done", "partial", "cannot"):
        raise CoopError(f"outcome must be done / partial / cannot, not '{report.outcome}'")
    if report.outcome == "cannot" and not (report.note or "").strip():
        raise CoopError("无法完成时必须说明原因 (a 'cannot' report needs a note with the reason)")
    if report.participants is not None and not (0 <= report.participants <= MAX_METRIC):
        raise CoopError(f"参与人数 {report.participants} 不合理 (participants must be 0–{MAX_METRIC})")
    for name, value in report.metrics.items():
        if isinstance(value, bool) or not isinstance(value, int) or not (0 <= value <= MAX_METRIC):
            raise CoopError(f"指标 {name}={value!r} 不合理 (metric values are whole numbers 0–{MAX_METRIC})")
    if len(report.evidence) > MAX_EVIDENCE:
        raise CoopError(f"at most {MAX_EVIDENCE} evidence items per report")
    if report.note is not None and len(report.note) > MAX_NOTE:
        raise CoopError(f"说明不能超过 {MAX_NOTE} 字 (note longer than {MAX_NOTE} characters)")
    if not all(is_storable(text) for text in [report.note or "", *report.evidence, *report.metrics]):
        raise CoopError("说明或佐证材料含有不允许的字符 (text contains NUL or an unpaired surrogate)")
    for item in report.evidence:
        if not (EVIDENCE_LINK.match(item) or EVIDENCE_FILE.match(item)):
            raise CoopError(
                f"佐证材料应为 http(s) 链接或 sha256:文件哈希（收到 '{item[:80]}'） "
                "(evidence must be a link or sha256:<hash>)"
            )


def is_storable(text: str) -> bool:
    """No NUL (PostgreSQL text refuses it) and no unpaired surrogate (not encodable as UTF-8)."""
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _check_reason(reason: str, what: str) -> None:
    if not reason.strip():
        raise CoopError(f"{what}必须说明理由 (a reason is required)")
    if len(reason) > MAX_NOTE or not is_storable(reason):
        raise CoopError(f"理由不能超过 {MAX_NOTE} 字，且不能含控制字符 (reason too long or contains NUL)")


def _check_evidence_files(session: Session, evidence: list[str], department_id: int | None) -> None:
    """A cited file hash must be one this department (or a coordinator) uploaded, so the ledger never points at
    nothing and no department learns of another's files; `department_id` None = a coordinator, any stored file."""
    cite(session, [m.group(1) for item in evidence if (m := EVIDENCE_FILE.match(item))], department_id)


def waive(session: Session, occurrence_id: int, reason: str, actor: str) -> int:
    """A coordinator releases a department from one occurrence; the reason is kept in the ledger."""
    return _close(session, occurrence_id, reason, actor, OccurrenceStatus.waived, "occurrence_waived", "豁免")


def cancel(session: Session, occurrence_id: int, reason: str, actor: str) -> int:
    """A coordinator cancels one open occurrence outside a re-plan (e.g. the event was called off); reason kept."""
    return _close(
        session, occurrence_id, reason, actor, OccurrenceStatus.cancelled, "occurrence_cancelled", "取消", with_key=True
    )


def _close(
    session: Session,
    occurrence_id: int,
    reason: str,
    actor: str,
    status: OccurrenceStatus,
    kind: str,
    verb: str,
    with_key: bool = False,
) -> int:
    """Close one open occurrence by a coordinator's decision, with the reason in the same transaction's ledger event."""
    _check_reason(reason, verb)
    occ = _locked(session, occurrence_id)
    if occ is None:
        raise UnknownOccurrence(occurrence_id)
    if occ.status not in OPEN_STATUSES:
        raise InvalidTransition(f"任务 #{occ.id} 当前状态为 {occ.status}，无法{verb}")
    payload = {"reason": reason, "previous_status": str(occ.status)} | ({"key": occ.key} if with_key else {})
    [event_id] = ledger.append(session, [EventDraft(kind, actor, payload, occ.agreement_id, occ.id)])
    occ.status, occ.closed_at, occ.updated_at = status, utcnow(), utcnow()
    session.add(occ)
    return event_id


def record_first_statuses(
    session: Session, today: dt.date, actor: str, agreement_id: str, moved: Mapping[str, list[int]]
) -> SweepResult:
    """The sweep's ledger events for an agreement's first plan, whose rows were written with their status as of
    `today` (`status_by_date`): `moved` names its due and overdue rows (status → ids, in id order), the ones the
    sweep would have moved from planned."""
    return _sweep_events(
        session,
        today,
        actor,
        agreement_id,
        {status: moved.get(status, []) for status in (OccurrenceStatus.overdue, OccurrenceStatus.due)},
    )


def sweep(session: Session, today: dt.date, actor: str, agreement_id: str | None = None) -> SweepResult:
    """planned → due when the window opens, planned/due → overdue after the due date; one ledger event per batch.

    `agreement_id`: only that agreement's occurrences (a plan brings its own statuses up to date).
    """
    now = utcnow()
    scope = [col(Occurrence.agreement_id) == agreement_id] if agreement_id is not None else []
    # Only planned/due rows whose window has opened or whose due date has passed can move; the rule decides.
    candidates = session.execute(
        select(col(Occurrence.id), col(Occurrence.status), col(Occurrence.window_start), col(Occurrence.due_date))
        .where(
            col(Occurrence.status).in_([OccurrenceStatus.planned, OccurrenceStatus.due]),
            or_(col(Occurrence.window_start) <= today, col(Occurrence.due_date) < today),
            *scope,
        )
        .order_by(col(Occurrence.id))
        .execution_options(yield_per=5000)
    )
    moved: dict[OccurrenceStatus, list[int]] = {OccurrenceStatus.overdue: [], OccurrenceStatus.due: []}
    for occurrence_id, status, window_start, due_date in candidates:
        after = status_on(status, window_start, due_date, today)
        if after != status:
            moved[after].append(occurrence_id)
    overdue_ids, due_ids = moved[OccurrenceStatus.overdue], moved[OccurrenceStatus.due]
    for ids, status in ((overdue_ids, OccurrenceStatus.overdue), (due_ids, OccurrenceStatus.due)):
        for start in range(0, len(ids), 5000):
            session.execute(
                update(Occurrence)
                .where(col(Occurrence.id).in_(ids[start : start + 5000]))
                .values(status=status, updated_at=now)
            )
    return _sweep_events(session, today, actor, agreement_id, moved)


def _sweep_events(
    session: Session,
    today: dt.date,
    actor: str,
    agreement_id: str | None,
    moved: dict[OccurrenceStatus, list[int]],
) -> SweepResult:
    """One ledger event per new status, naming every occurrence that moved to it."""
    overdue_ids, due_ids = moved[OccurrenceStatus.overdue], moved[OccurrenceStatus.due]
    drafts = []
    if overdue_ids:
        drafts.append(
            EventDraft("sweep_overdue", actor, {"today": str(today), "occurrence_ids": overdue_ids}, agreement_id)
        )
    if due_ids:
        drafts.append(EventDraft("sweep_due", actor, {"today": str(today), "occurrence_ids": due_ids}, agreement_id))
    ledger.append(session, drafts)
    return SweepResult(became_due=len(due_ids), became_overdue=len(overdue_ids))
