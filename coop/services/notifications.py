"""Decide and queue notifications: who must hear about which occurrence, rendered as one digest per recipient.

Decisions (notice rows) and the messages they produce (outbox rows) are written in one transaction;
`coop.services.delivery` sends the outbox afterwards.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from sqlmodel import Session

from coop.access import link_for, list_url
from coop.agreement.reminders import ReminderPolicy
from coop.agreement.schema import Agreement
from coop.calendar import WorkdayCalendar, default_calendar
from coop.notify.channels import MESSAGE_LIMITS, ROBOT_KINDS, configured_kind, parts_for
from coop.notify.channels.robot import MIN_ROOM  # a post's body never holds less (`robot.pieces`)
from coop.notify.digest import Digest, DigestItem
from coop.notify.policy import clause_policies, escalation_recipients, notice_row, notices_for
from coop.notify.results import BatchResult
from coop.notify.templates import (
    operation_line,
    render_digest,
    render_digest_summary,
    render_lead_summaries,
    render_weekly,
)
from coop.settings import Settings
from coop.store import notices as store
from coop.store.notices import PendingNotice
from coop.store.parties import agreement_departments
from models.db import session_scope

# When one recipient owes several notices about the same occurrence in one batch, the most urgent wins.
URGENCY = {"cancelled": 0, "planned": 1, "changed": 2, "due_today": 5, "escalation": 6}
# A digest that would take a group robot more posts than this goes to robots as a summary (issue 13: a
# 276-item digest was 45 posts, more than two minutes of a robot's 20-a-minute allowance, and unreadable).
MAX_ROBOT_PARTS = 3
SUMMARY_FIRST = (10, 5, 3)  # most urgent items listed in a summary: as many as still fit in one post
LinkFor = Callable[[int, int], str | None]
KindOf = Callable[[str], str | None]
ListLink = Callable[[int], str]


@dataclass
class Enqueued:
    """What one queueing run did: notices newly decided, and the digests they became."""

    decided: int
    batch: BatchResult


def queue_notifications(database_url: str, today: dt.date, settings: Settings) -> Enqueued:
    """Decide today's reminders and escalations and queue their digests, in one transaction.

    Each item carries a signed, expiring link to that department's report form; a digest too long for a
    group robot goes to robot channels as a summary with a link to the department's full list.
    """
    with session_scope(database_url) as session:
        decided = record_due_notices(session, today, default_calendar())
        batch = batch_notices(
            session,
            today,
            link_for(settings),
            kind_of=_configured_kinds(),
            list_link=lambda dept: list_url(settings, dept),
        )
        return Enqueued(decided, batch)


def queue_weekly_digests(database_url: str, today: dt.date, settings: Settings) -> Enqueued:
    """Queue one weekly overview per department and channel; a rerun in the same ISO week adds nothing."""
    with session_scope(database_url) as session:
        batch = record_weekly_digests(
            session,
            today,
            default_calendar(),
            kind_of=_configured_kinds(),
            list_link=lambda dept: list_url(settings, dept),
        )
        return Enqueued(0, batch)


def _configured_kinds() -> KindOf:
    """Channel name → kind as configured now, each name looked up once (a Prefect block is an HTTP call)."""
    kinds: dict[str, str | None] = {}

    def kind_of(channel: str) -> str | None:
        if channel not in kinds:
            kinds[channel] = configured_kind(channel)
        return kinds[channel]

    return kind_of


def department_names(database_url: str) -> dict[int, str]:
    """Department id → `单位部门`, for the dispatch artifact."""
    with session_scope(database_url) as session:
        return store.department_names(session)


def record_due_notices(
    session: Session, today: dt.date, calendar: WorkdayCalendar, policy: ReminderPolicy | None = None
) -> int:
    """Date-driven reminders and escalations; the unique key makes a rerun on the same day add nothing."""
    default = policy or ReminderPolicy()
    documents = store.latest_documents(session)
    policies = _policies(documents, default)
    furthest = max(max(p.before_workdays, default=0) for p in [default, *policies.values()])
    reach = calendar.add_workdays(today, furthest)
    coordinators, party_of = _routes(agreement_departments(session), documents)
    drafts: list[dict[str, Any]] = []
    for oid, due, status, dept, agreement_id, lead, code in store.open_occurrences_due_by(session, reach):
        clause_policy = policies.get((agreement_id, code), default)
        for notice in notices_for(oid, due, status, today, calendar, clause_policy):
            drafts.append(notice_row(notice, dept, "department"))
            if notice.kind == "escalation":
                party = party_of.get((agreement_id, dept))
                for recipient, role in escalation_recipients(dept, party, lead, coordinators.get(agreement_id, {})):
                    drafts.append(notice_row(notice, recipient, role))
    return store.insert_notices(session, _not_older_than_told(session, drafts))


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
    told: dict[tuple[int, str], tuple[int, int]] = {}
    for oid, kind, rnd, key in store.milestones_told(session, (d["occurrence_id"] for d in drafts)):
        due = key.split(":")[2]
        told[(oid, due)] = max(told.get((oid, due), (-1, 0)), _milestone(kind, rnd))
    return [
        d
        for d in drafts
        if _milestone(d["kind"], d["escalation_round"])
        >= told.get((d["occurrence_id"], d["dedup_key"].split(":")[2]), (-1, 0))
    ]


def _policies(documents: dict[str, dict[str, Any]], default: ReminderPolicy) -> dict[tuple[str, str], ReminderPolicy]:
    return {
        (agreement_id, code): policy
        for agreement_id, document in documents.items()
        for code, policy in clause_policies(Agreement.model_validate(document), default).items()
    }


def _routes(
    departments: dict[tuple[str, str, str], int], documents: dict[str, dict[str, Any]]
) -> tuple[dict[str, dict[str, int]], dict[tuple[str, int], str]]:
    """Per agreement: party → its coordinator department; and (agreement, department) → the department's party."""
    coordinators: dict[str, dict[str, int]] = defaultdict(dict)
    for agreement_id, document in documents.items():
        for party in document.get("parties", []):
            did = departments.get((agreement_id, party["name"], party["coordinator"]))
            if did is not None:
                coordinators[agreement_id][party["name"]] = did
    party_of = {(agreement_id, did): party for (agreement_id, party, _), did in departments.items()}
    return coordinators, party_of


def _urgency(kind: str) -> int:
    return URGENCY.get(kind, 3 if kind.startswith("reminder_t") else 1)


def batch_notices(
    session: Session,
    today: dt.date,
    link_for: LinkFor | None = None,
    *,
    kind_of: KindOf | None = None,
    list_link: ListLink | None = None,
    robot_parts: int = MAX_ROBOT_PARTS,
) -> BatchResult:
    """Every pending notice becomes part of exactly one digest per recipient and channel.

    With `kind_of` (channel name → kind), a digest that would take a group robot more than `robot_parts`
    posts goes to robot channels as a summary (`list_link(department)` points at the full list); every
    other channel gets it whole.
    """
    pending = store.claim_pending_notices(session)
    result = BatchResult(notices=len(pending))
    if not pending:
        return result
    recipients = store.recipients(session, {n.department_id for n in pending})
    # One message per department and channel: a coordinator's copy joins its own department's digest,
    # and a leader gets a separate one only where the leader has channels of their own.
    chosen: dict[tuple[int, str, int], PendingNotice] = {}
    for n in pending:
        leader_reachable = bool(recipients[n.department_id][3])
        if n.recipient_role == "lead" or (n.recipient_role == "leader" and not leader_reachable):
            continue  # a lead party's coordinator gets a summary (below), never another party's task list
        slot = (n.department_id, "leader" if n.recipient_role == "leader" else "department", n.occurrence_id)
        if slot not in chosen or _urgency(n.kind) >= _urgency(chosen[slot].kind):
            chosen[slot] = n
    rows = store.digest_items(session, {n.occurrence_id for n in chosen.values()})
    links = {oid: link_for(oid, dept) for oid, (dept, _) in rows.items()} if link_for is not None else {}
    decided = _operations_told(session, pending)
    groups: dict[tuple[int, str], list[PendingNotice]] = defaultdict(list)
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
            items=[
                _with_notice(
                    rows[n.occurrence_id][1],
                    n,
                    decided.get((dept, n.occurrence_id), ()),
                    links.get(n.occurrence_id),
                )
                for n in notices
            ],
            generated_on=today,
        )
        subject, body = render_digest(digest)
        targets = escalation_channels if role == "leader" else channels
        if not targets:
            result.recipients_without_channel.append(f"{party}/{name}（{role}）")
        fingerprint = hashlib.sha256("\n".join(sorted(n.dedup_key for n in notices)).encode()).hexdigest()[:24]
        kind = "escalation" if any(n.kind == "escalation" for n in notices) else "digest"
        link = list_link(dept) if list_link is not None and role == "department" else None
        bodies = _Bodies(digest, subject, body, kind_of, link, robot_parts)
        for channel in targets:
            text = bodies.for_channel(channel)
            messages.append(
                {
                    "dedup_key": f"{kind}:{dept}:{role}:{channel}:{fingerprint}",
                    "department_id": dept,
                    "recipient_role": role,
                    "channel": channel,
                    "kind": kind,
                    "subject": subject[:300],
                    "body": text,
                    "notice_count": len(notices),
                }
            )
    messages += _lead_summaries(session, [n for n in pending if n.recipient_role == "lead"], recipients, today, result)
    store.mark_batched(session, [n.id for n in pending if n.id is not None])
    result.messages = store.insert_outbox(session, longest_first(messages, kind_of))
    return result


def longest_first(messages: list[dict[str, Any]], kind_of: KindOf | None = None) -> list[dict[str, Any]]:
    """The messages in the order they are to be sent: those a group robot takes in most posts first (ties, and
    every other channel, as they came).

    The dispatcher claims in id order. A digest a robot takes in three parts goes as three requests one after
    another (never interleaved, and later in the minute if its robot already took 20 posts); sent first, those
    waits overlap the rest of the day's sending instead of trailing it (issue 16). The count is estimated from the
    body's size (cutting it would cost more than the order gains); an e-mail is one message however long, so it
    keeps its place."""

    def posts(message: dict[str, Any]) -> int:
        kind = (kind_of(message["channel"]) if kind_of is not None else None) or ""
        limit = MESSAGE_LIMITS.get(kind)  # type: ignore[call-overload]
        return len(message["body"].encode()) // limit if limit else 0

    return sorted(messages, key=lambda m: -posts(m))


def _lead_summaries(
    session: Session, notices: list[PendingNotice], recipients: dict[int, Any], today: dt.date, result: BatchResult
) -> list[dict[str, Any]]:
    """One message per lead coordinator and channel: how many tasks of each other party escalated, a section per
    agreement it leads (one a day however many agreements, issue 16)."""
    if not notices:
        return []
    items = store.digest_items(session, {n.occurrence_id for n in notices})
    counts: dict[int, dict[str, dict[str, int]]] = defaultdict(lambda: defaultdict(lambda: defaultdict(int)))
    keys: dict[int, list[str]] = defaultdict(list)
    for n in notices:
        _, item = items[n.occurrence_id]
        counts[n.department_id][item.agreement_title][(item.responsible or "").split("/", 1)[0]] += 1
        keys[n.department_id].append(n.dedup_key)
    messages = []
    for dept, by_agreement in sorted(counts.items()):
        party, name, channels, _ = recipients[dept]
        subject, body = render_lead_summaries(
            f"{party}{name}", {title: dict(by_party) for title, by_party in by_agreement.items()}, today
        )
        if not channels:
            result.recipients_without_channel.append(f"{party}/{name}（lead）")
        fingerprint = hashlib.sha256("\n".join(sorted(keys[dept])).encode()).hexdigest()[:24]
        for channel in channels:
            messages.append(
                {
                    "dedup_key": f"escalation:{dept}:lead:{channel}:{fingerprint}",
                    "department_id": dept,
                    "recipient_role": "lead",
                    "channel": channel,
                    "kind": "escalation",
                    "subject": subject[:300],
                    "body": body,
                    "notice_count": len(keys[dept]),
                }
            )
    return messages


class _Bodies:
    """The body each channel of one digest gets: the whole digest, or for a group robot that would need more
    than `robot_parts` posts, a summary (rendered once per robot kind)."""

    def __init__(
        self, digest: Digest, subject: str, body: str, kind_of: KindOf | None, link: str | None, robot_parts: int
    ) -> None:
        self.digest, self.subject, self.body, self.kind_of = digest, subject, body, kind_of
        self.link, self.robot_parts = link, robot_parts
        self.summaries: dict[str, str] = {}
        self.too_long: dict[str, bool] = {}
        self.size: int | None = None

    def for_channel(self, channel: str) -> str:
        kind = (self.kind_of(channel) if self.kind_of is not None else None) or ""
        if kind not in ROBOT_KINDS or not self._too_long(kind):
            return self.body
        if kind not in self.summaries:
            self.summaries[kind] = self._summary(kind)
        return self.summaries[kind]

    def _too_long(self, kind: str) -> bool:
        """More than `robot_parts` posts. Cutting the body into posts is the costly part (profiled in bench/), so a
        body longer than `robot_parts` + 1 whole posts can hold (one for a blank tail the cut drops) is known to be
        too long without cutting it."""
        if kind not in self.too_long:
            limit = MESSAGE_LIMITS.get(kind)  # type: ignore[call-overload]
            if self.size is None:
                self.size = len(self.body.encode())
            certain = limit is not None and self.size > (self.robot_parts + 1) * max(MIN_ROOM, limit)
            self.too_long[kind] = certain or parts_for(kind, self.subject, self.body) > self.robot_parts
        return self.too_long[kind]

    def _summary(self, kind: str) -> str:
        """As many urgent items as still fit in one post."""
        for first in SUMMARY_FIRST:
            _, body = render_digest_summary(self.digest, first=first, list_url=self.link)
            if parts_for(kind, self.subject, body) == 1:
                break
        return body


def _with_links(rows: dict[int, tuple[int, DigestItem]], link_for: LinkFor | None) -> dict[int, DigestItem]:
    """Each item gets a link to its department's report form, when links are issued."""
    if link_for is None:
        return {oid: item for oid, (_, item) in rows.items()}
    return {oid: replace(item, report_url=link_for(oid, dept)) for oid, (dept, item) in rows.items()}


def _with_notice(
    item: DigestItem, n: PendingNotice, operations: tuple[str, ...] = (), report_url: str | None = None
) -> DigestItem:
    """Why the item is in this message, and its report link: one copy per item, built from the fields as they are
    (`dataclasses.replace` looked every field up again: 3× the time, 54,000 times a day at province scale)."""
    return DigestItem(
        **{
            **vars(item),
            "report_url": report_url,
            "notice": n.kind,
            "days_overdue": n.days_overdue,
            "workdays_left": n.workdays_left,
            "escalation_round": n.escalation_round,
            "operations": operations,
        }
    )


_OPERATION_KEY = re.compile(r":op(\d+)$")


def _operations_told(session: Session, pending: list[PendingNotice]) -> dict[tuple[int, int], tuple[str, ...]]:
    """(department, occurrence) → the coordinators' decisions its pending notices point at, oldest first.

    Every decision is told, even where a more urgent notice about the same task is the one the digest shows.
    """
    pointed = [(n, int(m.group(1))) for n in pending if (m := _OPERATION_KEY.search(n.dedup_key))]
    if not pointed:
        return {}
    events = store.operation_events(session, [eid for _, eid in pointed])
    told: dict[tuple[int, int], list[tuple[int, str]]] = defaultdict(list)
    for n, eid in pointed:
        if eid in events:
            told[(n.department_id, n.occurrence_id)].append((eid, operation_line(*events[eid])))
    return {key: tuple(line for _, line in sorted(lines)) for key, lines in told.items()}


def record_weekly_digests(
    session: Session,
    today: dt.date,
    calendar: WorkdayCalendar,
    horizon_days: int = 14,
    *,
    kind_of: KindOf | None = None,
    list_link: ListLink | None = None,
    robot_parts: int = MAX_ROBOT_PARTS,
) -> BatchResult:
    """One weekly overview per department and channel; the ISO week in the key makes reruns harmless.

    `kind_of`, `list_link` and `robot_parts` as for `batch_notices`: a long overview reaches robots summarised.
    """
    horizon = today + dt.timedelta(days=horizon_days)
    rows = store.open_occurrences_due_before(session, horizon)
    by_department: dict[int, list[tuple[int, dt.date]]] = defaultdict(list)
    for oid, dept, due in rows:
        by_department[dept].append((oid, due))
    items = _with_links(store.digest_items(session, {oid for oid, _, _ in rows}), None)
    recipients = store.recipients(session, set(by_department))
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
        bodies = _Bodies(digest, subject, body, kind_of, list_link(dept) if list_link else None, robot_parts)
        for channel in channels:
            messages.append(
                {
                    "dedup_key": f"weekly:{year}-W{week:02d}:{dept}:{channel}",
                    "department_id": dept,
                    "recipient_role": "department",
                    "channel": channel,
                    "kind": "weekly",
                    "subject": subject[:300],
                    "body": bodies.for_channel(channel),
                    "notice_count": len(owed),
                }
            )
    result.messages = store.insert_outbox(session, longest_first(messages, kind_of))
    return result
