"""The agreement file format, as pydantic models. Unknown keys are errors (`extra="forbid"`)."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from coop.notify.policy import ReminderPolicy

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Ident = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,79}$")]
# Channel references are names looked up in the environment, never URLs or secrets.
ChannelRef = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_\-]{0,63}$")]

ClauseKind = Literal[
    "training",
    "exchange",
    "pilot_reform",
    "patrol",
    "volunteer_event",
    "survey",
    "meeting",
    "campaign",
    "report",
    "service",
    "research",
    "construction",
]
Adjust = Literal["next", "previous", "none"]
Period = Literal["week", "month", "quarter", "half_year", "year"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Department(Strict):
    name: Name = Field(description="部门名称, unique within its party")
    leader: Name | None = Field(default=None, description="分管领导, receives escalations")
    contact: Name | None = Field(default=None, description="联系人")
    channels: list[ChannelRef] = Field(default_factory=list, description="通知渠道引用名 (resolved from env)")
    escalation_channels: list[ChannelRef] = Field(default_factory=list, description="升级提醒渠道 (leader)")


class Party(Strict):
    # At most 100 characters: the name becomes part of each occurrence key (clause@date/party, 200 max).
    name: Annotated[Name, StringConstraints(max_length=100)] = Field(
        description="简称, used everywhere else in the file (e.g. 渝北区)"
    )
    full_name: Name | None = None
    coordinator: Name = Field(description="牵头联络部门 name; must be one of this party's departments")
    departments: list[Department] = Field(min_length=1)

    @model_validator(mode="after")
    def _coordinator_known(self) -> Party:
        names = [d.name for d in self.departments]
        dupes = {n for n in names if names.count(n) > 1}
        if dupes:
            raise ValueError(f"department names repeated: {', '.join(sorted(dupes))}")
        if self.coordinator not in names:
            raise ValueError(f"coordinator '{self.coordinator}' is not one of the departments of '{self.name}'")
        return self


class Term(Strict):
    start: dt.date
    end: dt.date

    @model_validator(mode="after")
    def _ordered(self) -> Term:
        if self.end < self.start:
            raise ValueError(f"term end {self.end} is before start {self.start}")
        if (self.end - self.start).days > 366 * 20:
            raise ValueError("term longer than 20 years")
        return self


class Recurrence(Strict):
    """Exactly one of `rrule`, `every`, `once`, `deadline`."""

    rrule: str | None = Field(default=None, description="RFC 5545 RRULE; DTSTART is the term start")
    every: Period | None = Field(default=None, description="sugar: one occurrence per period, due at period end")
    day: int | None = Field(default=None, ge=1, le=31, description="with `every`: day of the period's last month")
    once: dt.date | None = Field(default=None, description="a single event on this date")
    deadline: dt.date | None = Field(default=None, description="one task due by this date, open from term start")
    window_days: int = Field(default=14, ge=0, le=366, description="task opens this many days before it is due")
    adjust: Adjust = Field(
        default="previous", description="move a non-working due date to the previous/next working day"
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> Recurrence:
        given = [k for k in ("rrule", "every", "once", "deadline") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                "give exactly one of rrule / every / once / deadline" + (f" (got {', '.join(given)})" if given else "")
            )
        if self.day is not None and self.every is None:
            raise ValueError("`day` only goes with `every`")
        return self

    @field_validator("rrule")
    @classmethod
    def _rrule_shape(cls, v: str | None) -> str | None:
        if v is None:
            return v
        v = v.strip()
        if v.upper().startswith("RRULE:"):
            v = v[6:]
        if not re.fullmatch(r"[A-Za-z]+=[^;]+(;[A-Za-z]+=[^;]+)*", v):
            raise ValueError(f"'{v}' is not an RRULE like FREQ=MONTHLY;BYMONTHDAY=15")
        if "DTSTART" in v.upper():
            raise ValueError("DTSTART is not allowed in rrule; the term start is used")
        return v


class Responsible(Strict):
    """Either one named department of one party, or the coordinator (or named) department of each party."""

    party: Name | None = None
    department: Name | None = None
    each_party: bool = False

    @model_validator(mode="after")
    def _one_way(self) -> Responsible:
        if self.each_party and self.party:
            raise ValueError("`each_party: true` and `party` exclude each other")
        if not self.each_party and not self.party:
            raise ValueError("name a `party` or set `each_party: true`")
        return self


class Clause(Strict):
    id: Annotated[str, StringConstraints(pattern=r"^[0-9A-Za-z]+(\.[0-9A-Za-z]+)*$", max_length=40)] = Field(
        description="条款编号, e.g. 1.2"
    )
    title: Name
    text: str | None = Field(default=None, description="条款原文")
    kind: ClauseKind
    responsible: Responsible
    lead: Name | None = Field(default=None, description="牵头方 (party)")
    co_organisers: list[Name] = Field(default_factory=list, description="协办方 (parties)")
    recurrence: Recurrence
    rotate: list[Name] = Field(default_factory=list, description="承办方轮值, in order")
    location: str | None = None
    targets: dict[
        Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$")], Annotated[int, Field(ge=0, le=10**9)]
    ] = Field(default_factory=dict, description="numeric targets per occurrence, e.g. resident_questionnaires: 13200")
    evidence: list[Name] = Field(default_factory=list, description="需提交的佐证材料")
    reminders: ReminderPolicy | None = Field(default=None, description="提醒规则；不写则沿用协议的 reminders 或默认值")


class Programme(Strict):
    id: Annotated[str, StringConstraints(pattern=r"^[0-9A-Za-z]+$", max_length=20)]
    title: Name
    clauses: list[Clause] = Field(min_length=1)


class Agreement(Strict):
    id: Ident
    title: Name
    signed: dt.date
    term: Term
    source: str | None = Field(default=None, description="出处 (news report etc.)")
    parties: list[Party] = Field(min_length=1)
    programmes: list[Programme] = Field(min_length=1)
    reminders: ReminderPolicy | None = Field(default=None, description="全协议的提醒规则（条款可单独覆盖）")
