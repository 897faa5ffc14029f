"""What one message to one department says: plain values, filled by the dispatcher, read by templates."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Literal

NoticeKind = Literal["planned", "changed", "cancelled", "reminder_t7", "reminder_t1", "due_today", "escalation"]
"""The standard kinds. A policy with other `before_workdays` also yields `reminder_t<n>`."""

RecipientRole = Literal["department", "leader", "coordinator"]

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
"""Clause kinds as a department reads them."""


@dataclass(frozen=True)
class DigestItem:
    """One occurrence as a department needs to see it; `notice` says why it is in this message."""

    occurrence_id: int
    agreement_title: str
    programme_title: str
    clause_id: str
    clause_title: str
    kind_label: str
    due_date: date
    window_start: date
    host: str | None
    location: str | None
    evidence: list[str]
    targets: dict[str, int]
    provisional: bool
    notice: NoticeKind
    days_overdue: int
    report_url: str | None
    workdays_left: int | None = None
    """Working days until due, when the dispatcher knows them; sharper than the notice kind alone."""
    escalation_round: int | None = None
    responsible: str | None = None
    """The owing department as `单位/部门`; shown to leaders and coordinators, used in the report command."""
    operations: tuple[str, ...] = ()
    """Coordinators' decisions this message tells of, each with its reason and who decided (`operation_line`)."""
    metric_labels: dict[str, str] = field(default_factory=dict)
    """The agreement's own metric names (`metric_labels:`), used over the common table for `targets`."""


@dataclass(frozen=True)
class Digest:
    """Everything one recipient gets in one run: one message, however many items."""

    department: str
    party: str
    recipient_role: RecipientRole
    items: list[DigestItem] = field(default_factory=list)
    generated_on: date = field(default_factory=date.today)
