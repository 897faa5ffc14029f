"""Database tables. Names follow the domain; `*Record` where the pydantic agreement model owns the plain name."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class OccurrenceStatus(StrEnum):
    planned = "planned"
    due = "due"
    done = "done"
    overdue = "overdue"
    waived = "waived"
    cancelled = "cancelled"
    untracked = "untracked"  # due before tracking_from: history, never overdue, not in rates unless done
    suspended = "suspended"  # a coordinator stopped the clock: neither open (no sweep, no reminder) nor closed


# Open: still owed, so swept, reminded and reportable. Closed: settled for good (a reopen is a coordinator's act).
OPEN_STATUSES: frozenset[OccurrenceStatus] = frozenset(
    {OccurrenceStatus.planned, OccurrenceStatus.due, OccurrenceStatus.overdue}
)
CLOSED_STATUSES: frozenset[OccurrenceStatus] = frozenset(
    {OccurrenceStatus.done, OccurrenceStatus.waived, OccurrenceStatus.cancelled}
)


class Agency(SQLModel, table=True):
    """A signing party (district government, university, provincial department…), identified by `key`.

    `key` is the organisation id (`jilin/swd`, from agreements/organisations.yaml or a party's `id:`), shared by
    every agreement that names it; a party declared only inside one agreement has `<agreement id>:<name>`.
    Short names repeat across provinces (省委社会工作部), so `name` is only what people read.
    """

    # Unique indexes, not constraints: SQLite adds them to a table in place (a rebuilt table breaks its references).
    __table_args__ = (Index("uq_agency_key", "key", unique=True),)

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=300)
    name: str = Field(index=True, max_length=200)
    full_name: str | None = Field(default=None, max_length=200)


class Department(SQLModel, table=True):
    """A unit of one party; `key` is its id within the party (the registry's department `id`, else its name)."""

    __table_args__ = (
        UniqueConstraint("agency_id", "name"),
        Index("uq_department_agency_id_key", "agency_id", "key", unique=True),
    )

    id: int | None = Field(default=None, primary_key=True)
    agency_id: int = Field(foreign_key="agency.id", index=True)
    key: str = Field(max_length=200)
    name: str = Field(max_length=200)
    leader: str | None = Field(default=None, max_length=200)
    contact: str | None = Field(default=None, max_length=200)
    channels: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    escalation_channels: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))


class AgreementParty(SQLModel, table=True):
    """Which party (agency) a short name in an agreement means; the only way a name in a file reaches an id."""

    __tablename__ = "agreement_party"
    __table_args__ = (UniqueConstraint("agreement_id", "name"),)

    id: int | None = Field(default=None, primary_key=True)
    agreement_id: str = Field(foreign_key="agreement.id", index=True, max_length=80)
    name: str = Field(max_length=200, description="the party's short name as the agreement writes it")
    agency_id: int = Field(foreign_key="agency.id", index=True)


class AgreementRecord(SQLModel, table=True):
    __tablename__ = "agreement"

    id: str = Field(primary_key=True, max_length=80)
    title: str = Field(max_length=200)
    signed: dt.date
    term_start: dt.date
    term_end: dt.date
    source: str | None = None
    path: str = Field(max_length=500)
    version: int = 1
    content_hash: str = Field(max_length=64)
    calendar_version: str | None = Field(
        default=None,
        max_length=64,
        description="calendar data the last plan used (chinesecalendar, overrides, seasons)",
    )
    metric_labels: dict[str, str] = Field(
        default_factory=dict,
        sa_column=Column(JSON, nullable=False),
        description="the agreement's own metric names (`metric_labels:`), over coop.labels.METRIC_LABELS",
    )
    planned_at: dt.datetime = Field(default_factory=utcnow)


class AgreementVersion(SQLModel, table=True):
    """Every distinct content of an agreement ever planned, so an amendment can be audited."""

    __tablename__ = "agreement_version"
    __table_args__ = (UniqueConstraint("agreement_id", "version"),)

    id: int | None = Field(default=None, primary_key=True)
    agreement_id: str = Field(foreign_key="agreement.id", index=True, max_length=80)
    version: int
    content_hash: str = Field(max_length=64)
    document: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    created_at: dt.datetime = Field(default_factory=utcnow)


class ProgrammeRecord(SQLModel, table=True):
    __tablename__ = "programme"
    __table_args__ = (UniqueConstraint("agreement_id", "code"),)

    id: int | None = Field(default=None, primary_key=True)
    agreement_id: str = Field(foreign_key="agreement.id", max_length=80)
    code: str = Field(max_length=20)
    title: str = Field(max_length=200)


class ClauseRecord(SQLModel, table=True):
    __tablename__ = "clause"
    __table_args__ = (UniqueConstraint("agreement_id", "code"),)

    id: int | None = Field(default=None, primary_key=True)
    agreement_id: str = Field(foreign_key="agreement.id", max_length=80)
    programme_code: str = Field(max_length=20)
    code: str = Field(max_length=40)
    title: str = Field(max_length=200)
    text: str | None = None
    kind: str = Field(max_length=40)
    lead: str | None = Field(default=None, max_length=200)
    co_organisers: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    sign_off: str = Field(
        default="lead",
        max_length=10,
        sa_column_kwargs={"server_default": "lead"},
        description="lead: the responsible party's report closes the task; all: every co-organiser reports its part",
    )
    rotate: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    location: str | None = None
    targets: dict[str, int] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    evidence: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    recurrence: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    active: bool = True


class Occurrence(SQLModel, table=True):
    """One dated piece of work a department owes under a clause."""

    __table_args__ = (
        UniqueConstraint("agreement_id", "key"),
        Index("ix_occurrence_status_due", "status", "due_date"),
        Index("ix_occurrence_department_due", "department_id", "due_date"),
    )

    id: int | None = Field(default=None, primary_key=True)
    agreement_id: str = Field(foreign_key="agreement.id", max_length=80)
    clause_id: int = Field(foreign_key="clause.id", index=True)
    key: str = Field(max_length=200, description="stable identity across re-plans: clause@nominal-date[/party]")
    nominal_date: dt.date
    due_date: dt.date
    window_start: dt.date
    host: str | None = Field(default=None, max_length=200)
    location: str | None = Field(default=None, max_length=200, description="where the round takes place (host's)")
    department_id: int = Field(foreign_key="department.id")
    status: OccurrenceStatus = Field(default=OccurrenceStatus.planned, max_length=20)
    provisional: bool = False
    targets: dict[str, int] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    version: int = Field(default=1, description="agreement version that last planned this occurrence")
    updated_at: dt.datetime = Field(default_factory=utcnow)
    closed_at: dt.datetime | None = None
    suspended_on: dt.date | None = Field(default=None, description="while suspended: the day the clock stopped")
    planned_due_date: dt.date | None = Field(
        default=None, description="set by a coordinator's extension: the plan's due date; a re-plan keeps due_date"
    )
    planned_department_id: int | None = Field(
        default=None,
        foreign_key="department.id",
        description="set by a coordinator's reassignment: the plan's department; a re-plan keeps department_id",
    )


class Report(SQLModel, table=True):
    """What a department reported for an occurrence; metrics are summed against clause targets."""

    id: int | None = Field(default=None, primary_key=True)
    occurrence_id: int = Field(foreign_key="occurrence.id", index=True)
    department_id: int = Field(foreign_key="department.id")
    party_id: int | None = Field(
        default=None,
        foreign_key="agency.id",
        index=True,
        description="whose part of a joint (`sign_off: all`) task this report is; None: the responsible party's",
    )
    outcome: str = Field(max_length=20)
    participants: int | None = None
    metrics: dict[str, int] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    evidence: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    note: str | None = None
    event_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    at: dt.datetime = Field(default_factory=utcnow)


class LedgerEvent(SQLModel, table=True):
    """Append-only, hash-chained record of every state change."""

    __tablename__ = "ledger_event"

    id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    at: dt.datetime
    actor: str = Field(max_length=200)
    kind: str = Field(max_length=40, index=True)
    agreement_id: str | None = Field(default=None, max_length=80, index=True)
    occurrence_id: int | None = Field(default=None, index=True)
    payload: str = Field(description="canonical JSON, hashed as stored")
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64, unique=True)


class LedgerHead(SQLModel, table=True):
    """Single row locked while appending, so concurrent writers extend the chain one at a time."""

    __tablename__ = "ledger_head"

    id: int = Field(default=1, primary_key=True)
    last_id: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    last_hash: str = Field(default="0" * 64, max_length=64)


class LedgerCheckpoint(SQLModel, table=True):
    """The ledger head as signed by a key the database does not hold (Ed25519); also kept in a file outside it."""

    __tablename__ = "ledger_checkpoint"

    id: int | None = Field(default=None, primary_key=True)
    event_id: int = Field(sa_column=Column(BigInteger, nullable=False, index=True))
    hash: str = Field(max_length=64)
    at: str = Field(max_length=40, description="the signed moment, ISO 8601 UTC, exactly as signed")
    key_id: str = Field(max_length=32)
    signature: str = Field(max_length=200, description="base64 Ed25519 signature")
    actor: str = Field(max_length=200)
    delivered: str | None = Field(default=None, max_length=500, description="the auditors' channel's answer")
    created_at: dt.datetime = Field(default_factory=utcnow)


class Notice(SQLModel, table=True):
    """A decision that a recipient must hear about an occurrence; unique key = told once, ever."""

    __table_args__ = (Index("ix_notice_unbatched", "batched"),)

    id: int | None = Field(default=None, primary_key=True)
    dedup_key: str = Field(max_length=200, unique=True)
    occurrence_id: int = Field(foreign_key="occurrence.id", index=True)
    department_id: int = Field(foreign_key="department.id", description="the recipient department")
    recipient_role: str = Field(max_length=20, description="department / leader / coordinator")
    kind: str = Field(max_length=30)
    days_overdue: int = 0
    workdays_left: int | None = None
    escalation_round: int | None = None
    batched: bool = Field(default=False, description="already rendered into outbox messages")
    created_at: dt.datetime = Field(default_factory=utcnow)


class OutboxStatus(StrEnum):
    pending = "pending"
    sending = "sending"
    sent = "sent"
    dead = "dead"


class OutboxMessage(SQLModel, table=True):
    """One rendered message to one channel; delivered at least once, deduplicated by key at the sink."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_claim", "status", "next_attempt_at"),)

    id: int | None = Field(default=None, primary_key=True)
    dedup_key: str = Field(max_length=200, unique=True)
    department_id: int = Field(foreign_key="department.id", index=True)
    recipient_role: str = Field(max_length=20)
    channel: str = Field(max_length=64, description="channel reference name, resolved to a URL only at delivery")
    kind: str = Field(max_length=20, description="digest / escalation / weekly")
    subject: str = Field(max_length=300)
    body: str
    notice_count: int = 0
    status: OutboxStatus = Field(default=OutboxStatus.pending, max_length=20)
    attempts: int = 0
    parts_sent: int = Field(default=0, description="robot parts already accepted; a retry resumes after them")
    next_attempt_at: dt.datetime = Field(default_factory=utcnow)
    lease_until: dt.datetime | None = None
    claimed_by: str | None = Field(default=None, max_length=100)
    created_at: dt.datetime = Field(default_factory=utcnow)
    sent_at: dt.datetime | None = None
    last_error: str | None = None


class DeliveryAttempt(SQLModel, table=True):
    """Every try to deliver an outbox message, successful or not (errors stored redacted)."""

    __tablename__ = "delivery_attempt"

    id: int | None = Field(default=None, primary_key=True)
    outbox_id: int = Field(foreign_key="outbox.id", index=True)
    at: dt.datetime = Field(default_factory=utcnow)
    channel: str = Field(max_length=64)
    channel_kind: str = Field(max_length=20)
    ok: bool
    retryable: bool = False
    status_code: int | None = None
    detail: str = ""
    duration_ms: int = 0
    worker: str | None = Field(default=None, max_length=100)


class ApiToken(SQLModel, table=True):
    """A bearer token for the JSON API; only its sha256 is stored, so a copied database leaks no usable token."""

    __tablename__ = "api_token"

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True)
    role: str = Field(max_length=20, description="department / auditor / coordinator")
    department_id: int | None = Field(default=None, foreign_key="department.id", index=True)
    label: str = Field(max_length=200)
    created_at: dt.datetime = Field(default_factory=utcnow)
    revoked_at: dt.datetime | None = None
    person: str | None = Field(default=None, max_length=100, description="a coordinator token's holder, by name")
    agreements: list[str] = Field(
        default_factory=list,
        sa_column=Column(JSON, nullable=False, server_default="[]"),
        description="a coordinator token limited to these agreement ids; empty = every agreement",
    )
    expires_at: dt.datetime | None = Field(default=None, description="no longer accepted from this moment on")


class UsedLink(SQLModel, table=True):
    """The nonce of every signed link that has been acted on: a replayed link finds its nonce here and is refused."""

    __tablename__ = "used_link"

    nonce: str = Field(primary_key=True, max_length=32)
    purpose: str = Field(max_length=20)
    department_id: int = Field(foreign_key="department.id")
    occurrence_id: int | None = Field(default=None, foreign_key="occurrence.id")
    used_at: dt.datetime = Field(default_factory=utcnow)
    expires_at: dt.datetime


class EvidenceFile(SQLModel, table=True):
    """An uploaded evidence file, stored on disk under its sha256; the first uploader is kept for the audit trail."""

    __tablename__ = "evidence_file"

    sha256: str = Field(primary_key=True, max_length=64)
    size: int = Field(sa_column=Column(BigInteger, nullable=False))
    content_type: str = Field(max_length=100)
    filename: str = Field(max_length=255)
    department_id: int | None = Field(default=None, foreign_key="department.id")
    created_at: dt.datetime = Field(default_factory=utcnow)
    cited_at: dt.datetime | None = Field(default=None, description="last cited by a report: never cleaned up")


class EvidenceUpload(SQLModel, table=True):
    """Who uploaded a stored file, under which name: a department cites and downloads only its own uploads.

    `department_id` None = a coordinator's upload, citable by any department. An upload no report has cited
    (`cited_at` None) is removed after COOP_EVIDENCE_TTL_HOURS by `coop evidence cleanup`.
    """

    __tablename__ = "evidence_upload"
    __table_args__ = (UniqueConstraint("sha256", "department_id", name="uq_evidence_upload_sha256_department"),)

    id: int | None = Field(default=None, primary_key=True)
    sha256: str = Field(foreign_key="evidence_file.sha256", max_length=64, index=True)
    department_id: int | None = Field(default=None, foreign_key="department.id", index=True)
    filename: str = Field(max_length=255)
    size: int = Field(sa_column=Column(BigInteger, nullable=False))
    uploaded_at: dt.datetime = Field(default_factory=utcnow)
    cited_at: dt.datetime | None = Field(default=None, index=True)


class CalendarFeed(SQLModel, table=True):
    """One iCalendar feed (a department's, or a coordinator's for one agreement) and the version its URL signs.

    Revoking bumps `version`: every URL signed with an earlier one is refused (410) and `coop feed url` signs anew.
    """

    __tablename__ = "calendar_feed"

    id: int | None = Field(default=None, primary_key=True)
    scope: str = Field(max_length=120, unique=True, description="department:<id> or agreement:<id>")
    version: int = 1
    created_at: dt.datetime = Field(default_factory=utcnow)
    revoked_at: dt.datetime | None = Field(default=None, description="the last revocation, if any")
