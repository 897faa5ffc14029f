"""Decide who must hear about which occurrence (notice rows), then render one digest per recipient into the outbox."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import select, update
from sqlmodel import Session

from coop.agreement.schema import Agreement
from coop.calendar import WorkdayCalendar
from coop.notify.digest import Digest, DigestItem
from coop.notify.policy import Notice as PolicyNotice
from coop.notify.policy import ReminderPolicy, notices_for, plan_notice
from coop.notify.templates import render_digest, render_weekly
from coop.store.rows import insert_new
from models.tables import (
    OPEN_STATUSES,
    Agency,
    AgreementRecord,
    AgreementVersion,
    ClauseRecord,
    Department,
    Notice,
    Occurrence,
    OutboxMessage,
    ProgrammeRecord,
)

KIND_LABELS = {
    "training": "培训",
    "exchange": "交流",
    "pilot_reform": "改革试点",
    "patrol": "巡护",
    "volunteer_event": "志愿服务",
    "survey": "调研",
    "meeting": "会议",
    "campaign": "专题活动",
    "report": "报送",
    "service": "服务",
    "research": "研究",
    "construction": "建设",
}
# When one recipient owes several notices about the same occurrence in one batch, the most urgent wins.
URGENCY = {"cancelled": 0, "planned": 1, "changed": 2, "due_today": 5, "escalation": 6}
LinkFor = Callable[[int, int], str | None]


def _urgency(kind: str) -> int:
    return URGENCY.get(kind, 3 if kind.startswith("reminder_t") else 1)


def _row(n: PolicyNotice, department_id: int, role: str) -> dict[str, object]:
    key = n.dedup_key if role == "department" else f"{n.dedup_key}:{role}"
    return dict(
        dedup_key=key,
        occurrence_id=n.occurrence_id,
        department_id=department_id,
        recipient_role=role,
        kind=n.kind,
        days_overdue=n.days_overdue,
        workdays_left=n.workdays_left,
        escalation_round=n.escalation_round,
        batched=False,
    )


def record_plan_notices(
    session: Session,
    agreement_id: str,
    version: int,
    updated_ids: set[int],
    cancelled: Iterable[tuple[int, dt.date, int, str]],
    today: dt.date,
    horizon_days: int,
    policies: dict[str, ReminderPolicy] | None = None,
) -> int:
    """Written in the plan's own transaction, so a plan change and the decision to tell people land together."""
    policies = policies or {}
    default = ReminderPolicy()
    horizon = today + dt.timedelta(days=horizon_days)
    rows = session.execute(
        select(Occurrence.id, Occurrence.department_id, Occurrence.due_date, ClauseRecord.code)
        .join(ClauseRecord, ClauseRecord.id == Occurrence.clause_id)
        .where(
            Occurrence.agreement_id == agreement_id,
            Occurrence.version == version,
            Occurrence.status.in_(OPEN_STATUSES),  # type: ignore[attr-defined]
            Occurrence.due_date >= today,
            Occurrence.due_date <= horizon,
        )
    ).all()
    drafts = []
    for oid, dept, due, code in rows:
        kind = "changed" if oid in updated_ids else "planned"
        notice = plan_notice(oid, kind, due, today, policies.get(code, default), version=version)
        if notice:
            drafts.append(_row(notice, dept, "department"))
    for oid, due, dept, code in cancelled:
        notice = (
            plan_notice(oid, "cancelled", due, today, policies.get(code, default), version=version)
            if due >= today
            else None
        )
        if notice:
            drafts.append(_row(notice, dept, "department"))
    return insert_new(session, Notice, drafts, "dedup_key")


def record_due_notices(
    session: Session, today: dt.date, calendar: WorkdayCalendar, policy: ReminderPolicy | None = None
) -> int:
    """Date-driven reminders and escalations; the unique key makes a rerun on the same day add nothing."""
    default = policy or ReminderPolicy()
    documents = _latest_documents(session)
    policies = _policies(documents, default)
    furthest = max(max(p.before_workdays, default=0) for p in [default, *policies.values()])
    reach = calendar.add_workdays(today, furthest)
    rows = session.execute(
        select(
            Occurrence.id,
            Occurrence.due_date,
            Occurrence.status,
            Occurrence.department_id,
            Occurrence.agreement_id,
            ClauseRecord.lead,
            ClauseRecord.code,
        )
        .join(ClauseRecord, ClauseRecord.id == Occurrence.clause_id)
        .where(Occurrence.status.in_(OPEN_STATUSES), Occurrence.due_date <= reach)  # type: ignore[attr-defined]
        .execution_options(yield_per=5000)
    ).all()
    coordinators = _coordinators(session, documents)
    drafts = []
    for oid, due, status, dept, agreement_id, lead, code in rows:
        clause_policy = policies.get((agreement_id, code), default)
        for notice in notices_for(oid, due, str(status), today, calendar, clause_policy):
            drafts.append(_row(notice, dept, "department"))
            if notice.kind == "escalation":
                drafts.append(_row(notice, dept, "leader"))
                coordinator = coordinators.get((agreement_id, lead)) or coordinators.get((agreement_id, None))
                if coordinator is not None and coordinator != dept:
                    drafts.append(_row(notice, coordinator, "coordinator"))
    return insert_new(session, Notice, _not_older_than_told(session, drafts), "dedup_key")


def _milestone(kind: str, escalation_round: int | None) -> tuple[int, int]:
    """Order of an occurrence's milestones: reminder_t7 < reminder_t1 < due_today < escalation rounds."""
    if kind.startswith("reminder_t"):
        return (0, -int(kind.removeprefix("reminder_t") or 0))
    return (1, 0) if kind == "due_today" else (2, escalation_round or 0)


def _not_older_than_told(session: Session, drafts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Drop a milestone older than one already decided for the same occurrence and due date.

    A clock set back (or a run for an earlier `--today`) would otherwise send "due tomorrow" after
    "due today" had gone out. A moved due date is a new timeline: the due date is in the key.
    """
    ids = sorted({d["occurrence_id"] for d in drafts})
    told: dict[tuple[int, str], tuple[int, int]] = {}
    for start in range(0, len(ids), 5000):
        rows = session.execute(
            select(Notice.occurrence_id, Notice.kind, Notice.escalation_round, Notice.dedup_key).where(
                Notice.occurrence_id.in_(ids[start : start + 5000]),  # type: ignore[attr-defined]
                Notice.recipient_role == "department",
                Notice.kind.not_in(["planned", "changed", "cancelled"]),  # type: ignore[attr-defined]
            )
        )
        for oid, kind, rnd, key in rows:
            due = key.split(":")[2]
            told[(oid, due)] = max(told.get((oid, due), (-1, 0)), _milestone(kind, rnd))
    return [
        d
        for d in drafts
        if _milestone(d["kind"], d["escalation_round"])
        >= told.get((d["occurrence_id"], d["dedup_key"].split(":")[2]), (-1, 0))
    ]


def _latest_documents(session: Session) -> dict[str, dict[str, Any]]:
    """The current text of every agreement, as planned (reminder rules and coordinators live there)."""
    latest = (
        select(AgreementVersion.agreement_id, AgreementVersion.document)
        .join(AgreementRecord, AgreementRecord.id == AgreementVersion.agreement_id)
        .where(AgreementVersion.version == AgreementRecord.version)
    )
    return {agreement_id: document for agreement_id, document in session.execute(latest)}


def clause_policies(agreement: Agreement, default: ReminderPolicy | None = None) -> dict[str, ReminderPolicy]:
    """Field by field, what a clause writes overrides the agreement's rules, which override the default."""
    base = _overlay(default or ReminderPolicy(), agreement.reminders)
    return {c.id: _overlay(base, c.reminders) for p in agreement.programmes for c in p.clauses}


def _overlay(base: ReminderPolicy, written: ReminderPolicy | None) -> ReminderPolicy:
    if written is None:
        return base
    return base.model_copy(update={k: getattr(written, k) for k in written.model_fields_set})


def _policies(documents: dict[str, dict[str, Any]], default: ReminderPolicy) -> dict[tuple[str, str], ReminderPolicy]:
    return {
        (agreement_id, code): policy
        for agreement_id, document in documents.items()
        for code, policy in clause_policies(Agreement.model_validate(document), default).items()
    }


def _coordinators(session: Session, documents: dict[str, dict[str, Any]]) -> dict[tuple[str, str | None], int]:
    """(agreement, party) → that party's coordinator department; (agreement, None) → the first party's."""
    departments = {
        (agency, name): did
        for did, agency, name in session.execute(
            select(Department.id, Agency.name, Department.name).join(Agency, Agency.id == Department.agency_id)
        )
    }
    out: dict[tuple[str, str | None], int] = {}
    for agreement_id, document in documents.items():
        for i, party in enumerate(document.get("parties", [])):
            did = departments.get((party["name"], party["coordinator"]))
            if did is None:
                continue
            out[(agreement_id, party["name"])] = did
            if i == 0:
                out[(agreement_id, None)] = did
    return out


@dataclass
class BatchResult:
    notices: int = 0
    messages: int = 0
    recipients_without_channel: list[str] = field(default_factory=list)


def batch_notices(session: Session, today: dt.date, link_for: LinkFor | None = None) -> BatchResult:
    """Every pending notice becomes part of exactly one digest per recipient and channel."""
    pending = (
        session.execute(
            select(Notice).where(Notice.batched.is_(False)).order_by(Notice.id).with_for_update(skip_locked=True)  # type: ignore[attr-defined]
        )
        .scalars()
        .all()
    )
    result = BatchResult(notices=len(pending))
    if not pending:
        return result
    recipients = _recipients(session, {n.department_id for n in pending})
    # One message per department and channel: a coordinator's copy joins its own department's digest,
    # and a leader gets a separate one only where the leader has channels of their own.
    chosen: dict[tuple[int, str, int], Notice] = {}
    for n in pending:
        leader_reachable = bool(recipients[n.department_id][3])
        if n.recipient_role == "leader" and not leader_reachable:
            continue
        slot = (n.department_id, "leader" if n.recipient_role == "leader" else "department", n.occurrence_id)
        if slot not in chosen or _urgency(n.kind) >= _urgency(chosen[slot].kind):
            chosen[slot] = n
    items = _digest_items(session, {n.occurrence_id for n in chosen.values()}, today, link_for)
    groups: dict[tuple[int, str], list[Notice]] = defaultdict(list)
    for (dept, role, _), n in chosen.items():
        groups[(dept, role)].append(n)
    messages = []
    for (dept, role), notices in sorted(groups.items()):
        party, name, channels, escalation_channels = recipients[dept]
        if role == "department" and any(n.recipient_role == "coordinator" for n in notices):
            role = "coordinator"
        digest = Digest(
            department=f"{party}{name}",
            party=party,
            recipient_role=role,  # type: ignore[arg-type]
            items=[_with_notice(items[n.occurrence_id], n) for n in notices],
            generated_on=today,
        )
        subject, body = render_digest(digest)
        targets = escalation_channels if role == "leader" else channels
        if not targets:
            result.recipients_without_channel.append(f"{party}/{name}（{role}）")
        fingerprint = hashlib.sha256("\n".join(sorted(n.dedup_key for n in notices)).encode()).hexdigest()[:24]
        kind = "escalation" if any(n.kind == "escalation" for n in notices) else "digest"
        for channel in targets:
            messages.append(
                dict(
                    dedup_key=f"{kind}:{dept}:{role}:{channel}:{fingerprint}",
                    department_id=dept,
                    recipient_role=role,
                    channel=channel,
                    kind=kind,
                    subject=subject[:300],
                    body=body,
                    notice_count=len(notices),
                )
            )
    ids = [n.id for n in pending]
    for start in range(0, len(ids), 5000):
        session.execute(update(Notice).where(Notice.id.in_(ids[start : start + 5000])).values(batched=True))  # type: ignore[union-attr]
    result.messages = insert_new(session, OutboxMessage, messages, "dedup_key")
    return result


def _with_notice(item: DigestItem, n: Notice) -> DigestItem:
    return replace(
        item,
        notice=n.kind,  # type: ignore[arg-type]
        days_overdue=n.days_overdue,
        workdays_left=n.workdays_left,
        escalation_round=n.escalation_round,
    )


def _recipients(session: Session, department_ids: set[int]) -> dict[int, tuple[str, str, list[str], list[str]]]:
    rows = session.execute(
        select(Department.id, Agency.name, Department.name, Department.channels, Department.escalation_channels)
        .join(Agency, Agency.id == Department.agency_id)
        .where(Department.id.in_(department_ids))  # type: ignore[union-attr]
    )
    return {r[0]: (r[1], r[2], list(r[3] or []), list(r[4] or [])) for r in rows}


def _digest_items(
    session: Session, occurrence_ids: set[int], today: dt.date, link_for: LinkFor | None
) -> dict[int, DigestItem]:
    """Everything a reader needs about each occurrence, fetched in chunks, not one query per item."""
    items: dict[int, DigestItem] = {}
    ids = sorted(occurrence_ids)
    for start in range(0, len(ids), 2000):
        rows = session.execute(
            select(Occurrence, ClauseRecord, ProgrammeRecord.title, AgreementRecord.title, Agency.name, Department.name)
            .join(ClauseRecord, ClauseRecord.id == Occurrence.clause_id)
            .join(
                ProgrammeRecord,
                (ProgrammeRecord.agreement_id == ClauseRecord.agreement_id)
                & (ProgrammeRecord.code == ClauseRecord.programme_code),
            )
            .join(AgreementRecord, AgreementRecord.id == Occurrence.agreement_id)
            .join(Department, Department.id == Occurrence.department_id)
            .join(Agency, Agency.id == Department.agency_id)
            .where(Occurrence.id.in_(ids[start : start + 2000]))  # type: ignore[union-attr]
        ).all()
        for occ, clause, programme_title, agreement_title, party, dept in rows:
            assert occ.id is not None
            items[occ.id] = DigestItem(
                occurrence_id=occ.id,
                agreement_title=agreement_title,
                programme_title=programme_title,
                clause_id=clause.code,
                clause_title=clause.title,
                kind_label=KIND_LABELS.get(clause.kind, clause.kind),
                due_date=occ.due_date,
                window_start=occ.window_start,
                host=occ.host,
                location=clause.location,
                evidence=list(clause.evidence),
                targets=dict(occ.targets),
                provisional=occ.provisional,
                notice="planned",
                days_overdue=0,
                report_url=link_for(occ.id, occ.department_id) if link_for else None,
                responsible=f"{party}/{dept}",
            )
    return items


def record_weekly_digests(
    session: Session, today: dt.date, calendar: WorkdayCalendar, horizon_days: int = 14
) -> BatchResult:
    """One weekly overview per department and channel; the ISO week in the key makes reruns harmless."""
    horizon = today + dt.timedelta(days=horizon_days)
    rows = session.execute(
        select(Occurrence.id, Occurrence.department_id, Occurrence.due_date).where(
            Occurrence.status.in_(OPEN_STATUSES),  # type: ignore[attr-defined]
            Occurrence.due_date < horizon,
        )
    ).all()
    by_department: dict[int, list[tuple[int, dt.date]]] = defaultdict(list)
    for oid, dept, due in rows:
        by_department[dept].append((oid, due))
    items = _digest_items(session, {oid for oid, _, _ in rows}, today, None)
    recipients = _recipients(session, set(by_department))
    year, week, _ = today.isocalendar()
    result = BatchResult()
    messages = []
    for dept, owed in sorted(by_department.items()):
        party, name, channels, _ = recipients[dept]
        digest = Digest(
            department=f"{party}{name}",
            party=party,
            recipient_role="department",
            items=[
                replace(items[oid], days_overdue=max(0, calendar.workdays_between(due, today)) if due < today else 0)
                for oid, due in owed
            ],
            generated_on=today,
        )
        subject, body = render_weekly(digest, horizon_days)
        if not channels:
            result.recipients_without_channel.append(f"{party}/{name}（department）")
        for channel in channels:
            messages.append(
                dict(
                    dedup_key=f"weekly:{year}-W{week:02d}:{dept}:{channel}",
                    department_id=dept,
                    recipient_role="department",
                    channel=channel,
                    kind="weekly",
                    subject=subject[:300],
                    body=body,
                    notice_count=len(owed),
                )
            )
    result.messages = insert_new(session, OutboxMessage, messages, "dedup_key")
    return result


def channel_references(session: Session) -> set[str]:
    """Every channel name some department is reached by (for configuration checks and the demo)."""
    names: set[str] = set()
    for channels, escalation in session.execute(select(Department.channels, Department.escalation_channels)):
        names.update(channels or [], escalation or [])
    return names
