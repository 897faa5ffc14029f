"""Read models: one class per thing shown to people, as a `Base` → `Public` ladder beside the tables.

As in the full-stack FastAPI template, a `*Base` holds the fields a table and its readers share and a `*Public`
adds what one reader is shown. The store returns these, the JSON API serves them as they are
(`coop/web/schemas.py` names them), and the exports and artifacts read the same fields.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlmodel import Field, SQLModel

# ---------------------------------------------------------------- departments


class DepartmentBase(SQLModel):
    """A department as people name it: its party (the signing agency) and its own name."""

    party: str
    name: str

    @property
    def label(self) -> str:
        """`单位部门`, as messages and pages name a department."""
        return f"{self.party}{self.name}"


class DepartmentPublic(DepartmentBase):
    id: int


# ---------------------------------------------------------------- occurrences


class OccurrenceBase(SQLModel):
    """The dated fields of an `Occurrence` row that every reader is shown."""

    window_start: dt.date
    due_date: dt.date
    host: str | None
    status: str
    provisional: bool
    targets: dict[str, int]


class ClauseRef(SQLModel):
    """Which agreement and clause a row belongs to, by id and by title."""

    agreement_id: str
    clause: str
    clause_title: str


class DepartmentOccurrencePublic(OccurrenceBase, ClauseRef):
    """One occurrence as its department sees it, with what has been reported so far."""

    id: int
    agreement_title: str
    kind: str
    location: str | None
    evidence_expected: list[str]
    reported: dict[str, int] = Field(default_factory=dict, description="已报告的指标合计")
    reports: int = 0
    parts: dict[str, bool] = Field(
        default_factory=dict, description="联合办结（sign_off: all）：各方 → 本方部分是否已报告完成"
    )
    part_done: bool | None = Field(default=None, description="联合办结：本部门所在一方的部分是否已报告完成")


class OccurrenceDetailPublic(ClauseRef):
    """One occurrence with what a reader needs to recognise it: agreement, clause, owner, targets."""

    occurrence_id: int
    agreement_title: str
    party: str
    department: str
    host: str | None
    due_date: dt.date
    status: str
    targets: dict[str, int]


class DueItemPublic(SQLModel):
    """An open occurrence coming due, as the coordinator's summary lists it."""

    occurrence_id: int
    due_date: dt.date
    clause: str
    clause_title: str
    party: str
    department: str
    host: str | None
    status: str
    provisional: bool
    location: str | None = Field(default=None, description="地点：轮值承办时为承办方的地点，否则为条款写明的地点")


class AgreementSummaryPublic(SQLModel):
    """One agreement at a glance: its term, size, occurrences per status and what comes due next."""

    id: str
    title: str
    version: int
    term_start: dt.date
    term_end: dt.date
    programmes: int
    clauses: int
    occurrences: int
    by_status: dict[str, int] = Field(default_factory=dict)
    provisional: int = 0
    next_due: list[DueItemPublic] = Field(default_factory=list)


# ---------------------------------------------------------------- access tokens


class ApiTokenPublic(SQLModel):
    """An API token as coordinators list it (`coop token list`, `GET /tokens`): never the secret itself."""

    id: int
    role: str
    label: str
    person: str | None
    department_id: int | None
    agreements: list[str]
    created_at: dt.datetime
    expires_at: dt.datetime | None
    revoked_at: dt.datetime | None
    live: bool = Field(description="still accepted at the time of listing: not revoked, not expired")


# ---------------------------------------------------------------- notifications


class OutboxMessagePublic(SQLModel):
    """One outbox message as a coordinator sees it: where it goes, how far it got, and why it failed."""

    id: int
    status: str
    channel: str
    recipient: str = Field(description="单位/部门")
    recipient_role: str
    kind: str
    subject: str
    attempts: int
    parts_sent: int = Field(default=0, description="长消息已送达的分段数（重试从下一段续发）")
    created_at: dt.datetime
    next_attempt_at: dt.datetime
    last_error: str | None


# ---------------------------------------------------------------- ledger history


class LedgerEventBase(SQLModel):
    """The stored fields of a `LedgerEvent` a reader is shown (its payload decoded)."""

    id: int
    at: dt.datetime
    actor: str
    kind: str
    occurrence_id: int | None
    hash: str


class HistoryEventPublic(LedgerEventBase):
    """A ledger event in a history: its Chinese label, decoded payload and the evidence it cites."""

    label: str
    evidence: list[str]
    payload: dict[str, Any]


class OccurrenceHistoryBase(ClauseRef):
    """The occurrence a history is about."""

    occurrence_id: int
    party: str
    department: str
    due_date: dt.date
    status: str


class OccurrenceHistoryPublic(OccurrenceHistoryBase):
    """Every ledger event about one occurrence, in ledger order."""

    events: list[HistoryEventPublic]


class NarrativeEventPublic(SQLModel):
    """A ledger event told as one Chinese sentence (the auditors' drill-down), with its hash for checking."""

    id: int
    at: str = Field(description="发生时间（部署时区，精确到分钟）")
    actor: str
    kind: str
    label: str
    sentence: str = Field(description="一句话：何时、谁、做了什么、佐证几份")
    evidence: list[str]
    hash: str


class OccurrenceNarrativePublic(OccurrenceHistoryBase):
    """One task's history told in Chinese sentences, oldest first."""

    status_label: str
    events: list[NarrativeEventPublic]


class ClauseHistoryPublic(ClauseRef):
    """The agreement's plan events and every event of one clause's occurrences, in ledger order."""

    programme: str
    targets: dict[str, int]
    occurrences: int
    events: list[HistoryEventPublic]


# ---------------------------------------------------------------- audit figures


class RatesPublic(SQLModel):
    """Completion and on-time figures of one group of occurrences (or of all of them)."""

    group: str
    total: int
    expected: int = Field(description="应完成：截止日期已过且未豁免、未取消、未暂停、不属未跟踪的历史")
    done: int
    on_time: int
    overdue: int
    done_total: int
    open_not_due: int
    waived: int
    cancelled: int
    untracked: int = Field(default=0, description="未跟踪：tracking_from 之前到期且未报告的历史，不计入完成率")
    suspended: int = Field(default=0, description="暂停：协调人停止了逾期计时，恢复前不计入应完成")
    parts_expected: int = Field(default=0, description="应完成任务的各方部分数（联合办结的任务每方一份）")
    parts_done: int = Field(default=0, description="其中已报告完成的部分")
    part_rate: float | None = Field(default=None, description="分方完成率 = 已完成部分 / 应完成部分")
    completion_rate: float | None
    on_time_rate: float | None


class OverduePublic(ClauseRef):
    """One overdue occurrence in an audit: whose it is and how late, labelled with its group."""

    occurrence_id: int
    party: str
    department: str
    due_date: dt.date
    days_overdue: int
    group: str


class ProgressPublic(ClauseRef):
    """Reported metric sums against the target of one clause."""

    metric: str
    target: int
    reported: int
    ratio: float | None
