"""State changes of single occurrences (completion, waiver) and the daily status sweep."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Literal

from sqlalchemy import and_, select, update
from sqlmodel import Session

from coop.clock import today_in_shanghai
from coop.errors import CoopError, Forbidden, InvalidTransition, UnknownOccurrence
from coop.ledger import EventDraft
from coop.store import ledger
from models.tables import (
    OPEN_STATUSES,
    Agency,
    ClauseRecord,
    Department,
    EvidenceFile,
    Occurrence,
    OccurrenceStatus,
    Report,
    utcnow,
)

Outcome = Literal["done", "partial", "cannot"]
MAX_METRIC = 10**8
MAX_EVIDENCE = 50
MAX_NOTE = 2000
EVIDENCE_LINK = re.compile(r"^https?://[^\s]{1,490}$")
EVIDENCE_FILE = re.compile(r"^sha256:([0-9a-f]{64})$")


@dataclass(frozen=True)
class CompletionReport:
    """What a department says it did; validated before anything is written."""

    occurrence_id: int
    department: str  # "party/department" as written in the agreement, or the numeric department id
    outcome: Outcome = "done"
    participants: int | None = None
    metrics: dict[str, int] = field(default_factory=dict)
    evidence: list[str] = field(default_factory=list)
    note: str | None = None


def resolve_department(session: Session, ref: str) -> Department:
    if not is_storable(ref):
        dept = None
    elif ref.isascii() and ref.isdigit():  # not isdigit alone: '²' is a digit that int() refuses
        dept = session.get(Department, int(ref)) if int(ref) < 2**31 else None
    else:
        party, _, name = ref.partition("/")
        dept = session.execute(
            select(Department)
            .join(Agency, Agency.id == Department.agency_id)
            .where(Agency.name == party, Department.name == name)
        ).scalar_one_or_none()
    if dept is None:
        raise Forbidden(f"未知部门 '{ref}' (unknown department; write it as 党派/部门, e.g. 渝北区/区委社会工作部)")
    return dept


def _locked(session: Session, occurrence_id: int) -> Occurrence | None:
    """The occurrence, row-locked; an id no row can have is simply unknown (the databases would raise instead)."""
    if isinstance(occurrence_id, bool) or not isinstance(occurrence_id, int) or not 0 < occurrence_id < 2**31:
        return None
    return session.get(Occurrence, occurrence_id, with_for_update=True)


def record_completion(session: Session, report: CompletionReport, actor: str) -> int:
    """Apply a report and append its ledger event in the same transaction; returns the event id."""
    _validate(report)
    occ = _locked(session, report.occurrence_id)
    if occ is None:
        raise UnknownOccurrence(report.occurrence_id)
    dept = resolve_department(session, report.department)
    if occ.department_id != dept.id:
        # Same answer as an unknown id: a department must not learn what others owe.
        raise UnknownOccurrence(report.occurrence_id)
    if occ.status not in OPEN_STATUSES:
        raise InvalidTransition(f"任务 #{occ.id} 当前状态为 {occ.status}，不能再报告完成 (occurrence is {occ.status})")
    clause = session.get(ClauseRecord, occ.clause_id)
    assert clause is not None
    unknown = sorted(set(report.metrics) - set(clause.targets))
    if unknown:
        known = ", ".join(sorted(clause.targets)) or "无"
        raise CoopError(
            f"条款 {clause.code} 没有指标 {', '.join(unknown)} (unknown metric; this clause tracks: {known})"
        )
    _check_evidence_files(session, report.evidence)
    now = utcnow()
    on_time = today_in_shanghai(now) <= occ.due_date
    payload = {
        "outcome": report.outcome,
        "participants": report.participants,
        "metrics": report.metrics,
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
    [event_id] = ledger.append(session, [EventDraft(kind, actor, payload, occ.agreement_id, occ.id)])
    if report.outcome == "done":
        occ.status, occ.closed_at = OccurrenceStatus.done, now
    occ.updated_at = now
    session.add(occ)
    session.add(
        Report(
            occurrence_id=occ.id,
            department_id=dept.id,
            outcome=report.outcome,
            participants=report.participants,
            metrics=report.metrics,
            evidence=report.evidence,
            note=report.note,
            event_id=event_id,
            at=now,
        )
    )
    session.flush()
    return event_id


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
                f"佐证材料应为 http(s) 链接或 sha256:文件哈希（收到 '{item[:80]}'） (evidence must be a link or sha256:<hash>)"
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


def _check_evidence_files(session: Session, evidence: list[str]) -> None:
    """A cited file hash must be one the service stored, so the ledger never points at nothing."""
    cited = sorted({m.group(1) for item in evidence if (m := EVIDENCE_FILE.match(item))})
    if not cited:
        return
    stored = set(session.execute(select(EvidenceFile.sha256).where(EvidenceFile.sha256.in_(cited))).scalars())  # type: ignore[attr-defined]
    missing = [h for h in cited if h not in stored]
    if missing:
        raise CoopError(f"找不到佐证文件 sha256:{missing[0]}，请先上传 (unknown evidence file)")


def waive(session: Session, occurrence_id: int, reason: str, actor: str) -> int:
    """A coordinator releases a department from one occurrence; the reason is kept in the ledger."""
    return _close(session, occurrence_id, reason, actor, OccurrenceStatus.waived, "occurrence_waived", "豁免")


def cancel(session: Session, occurrence_id: int, reason: str, actor: str) -> int:
    """A coordinator cancels one open occurrence outside a re-plan (e.g. the event was called off); reason in the ledger."""
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


@dataclass(frozen=True)
class SweepResult:
    became_due: int
    became_overdue: int


def sweep(session: Session, today: dt.date, actor: str) -> SweepResult:
    """planned → due when the window opens, planned/due → overdue after the due date; one ledger event per batch."""
    now = utcnow()
    overdue_ids = list(
        session.execute(
            select(Occurrence.id).where(
                Occurrence.status.in_([OccurrenceStatus.planned, OccurrenceStatus.due]),  # type: ignore[attr-defined]
                Occurrence.due_date < today,
            )
        ).scalars()
    )
    due_ids = list(
        session.execute(
            select(Occurrence.id).where(
                and_(
                    Occurrence.status == OccurrenceStatus.planned,
                    Occurrence.window_start <= today,
                    Occurrence.due_date >= today,
                )
            )
        ).scalars()
    )
    for ids, status in ((overdue_ids, OccurrenceStatus.overdue), (due_ids, OccurrenceStatus.due)):
        for start in range(0, len(ids), 5000):
            session.execute(
                update(Occurrence)
                .where(Occurrence.id.in_(ids[start : start + 5000]))
                .values(status=status, updated_at=now)  # type: ignore[union-attr]
            )
    drafts = []
    if overdue_ids:
        drafts.append(EventDraft("sweep_overdue", actor, {"today": str(today), "occurrence_ids": overdue_ids}))
    if due_ids:
        drafts.append(EventDraft("sweep_due", actor, {"today": str(today), "occurrence_ids": due_ids}))
    ledger.append(session, drafts)
    return SweepResult(became_due=len(due_ids), became_overdue=len(overdue_ids))
