"""The agreement file format, as pydantic models. Unknown keys are errors (`extra="forbid"`)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from coop.agreement.reminders import ReminderPolicy
from coop.calendar import FESTIVAL_LABELS, SEASON_LABELS, Festival

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Ident = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,79}$")]
# Channel references are names looked up in the environment, never URLs or secrets.
ChannelRef = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_\-]{0,63}$")]
# Organisation ids are stable across agreements and files: lowercase words joined by `/`, e.g. jilin/swd.
# A party declared only inside one agreement gets `<agreement id>:<name>` instead, which no organisation id can be.
OrganisationId = Annotated[
    str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_\-]{0,39}(/[a-z0-9][a-z0-9_\-]{0,39}){0,4}$")
]
DepartmentId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_\-]{0,63}$")]

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
MetricName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
TermTargets = dict[MetricName, Annotated[int, Field(ge=0, le=10**9)]]
Adjust = Literal["next", "previous", "none"]
Period = Literal["week", "month", "quarter", "half_year", "year"]
WorkdayPeriod = Literal["month", "quarter", "half_year", "year"]
OffsetUnit = Literal["days", "workdays"]
SeasonName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,39}$")]
# A province or municipality whose school calendar a season follows: the name of a regional season table (四川, 重庆).
RegionName = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[^\s/\\.:]{1,20}$")]
_PERIOD_LABELS = {"month": "月", "quarter": "季度", "half_year": "半年", "year": "年"}


def _iso_date(value: object) -> object:
    """A date written YYYY-MM-DD; anything else gets a message that shows the expected form."""
    if isinstance(value, dt.datetime):
        raise ValueError(f"'{value}' 带有时刻；请只写日期 YYYY-MM-DD (date only)")
    if isinstance(value, dt.date):
        return value
    text = value.strip() if isinstance(value, str) else None
    if text is None or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        raise ValueError(f"'{value}' 不是 YYYY-MM-DD 格式的日期；请写成如 2025-06-30 (expected YYYY-MM-DD)")
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"'{value}' 不是有效日期（该月没有这一天）；请写成 YYYY-MM-DD") from None


IsoDate = Annotated[dt.date, BeforeValidator(_iso_date)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Department(Strict):
    id: DepartmentId | None = Field(default=None, description="部门标识, stable within its party (e.g. swd-office)")
    name: Name = Field(description="部门名称, unique within its party")
    leader: Name | None = Field(default=None, description="分管领导, receives escalations")
    contact: Name | None = Field(default=None, description="联系人")
    channels: list[ChannelRef] = Field(default_factory=list, description="通知渠道引用名 (resolved from env)")
    escalation_channels: list[ChannelRef] = Field(default_factory=list, description="升级提醒渠道 (leader)")

    @property
    def key(self) -> str:
        """Identity within the party: the id if written, else the name."""
        return self.id or self.name


class Party(Strict):
    ref: OrganisationId | None = Field(
        default=None, description="组织标识 in agreements/organisations.yaml; name and departments come from there"
    )
    id: OrganisationId | None = Field(
        default=None, description="组织标识 declared here; agreements naming the same id share this party"
    )
    # At most 100 characters: the name becomes part of each occurrence key (clause@date/party, 200 max).
    name: Annotated[Name, StringConstraints(max_length=100)] = Field(
        description="简称, used everywhere else in the file (e.g. 渝北区)"
    )
    full_name: Name | None = None
    location: Name | None = Field(default=None, description="地点（轮值条款 location_from_host 时作为活动地点）")
    coordinator: Name = Field(description="牵头联络部门 name; must be one of this party's departments")
    departments: list[Department] = Field(min_length=1)

    @model_validator(mode="after")
    def _coordinator_known(self) -> Party:
        if self.ref and self.id:
            raise ValueError(
                "ref 与 id 互相排斥：ref 指组织名录中的组织，id 是在此声明的组织 (`ref` and `id` exclude each other)"
            )
        names = [d.name for d in self.departments]
        dupes = {n for n in names if names.count(n) > 1}
        if dupes:
            raise ValueError(f"部门名称重复：{'、'.join(sorted(dupes))} (department names repeated)")
        keys = [d.id for d in self.departments if d.id]
        dupes = {k for k in keys if keys.count(k) > 1}
        if dupes:
            raise ValueError(f"部门标识重复：{'、'.join(sorted(dupes))} (department ids repeated)")
        if self.coordinator not in names:
            raise ValueError(
                f"牵头联络部门 '{self.coordinator}' 不在 '{self.name}' 的部门中 "
                f"(coordinator '{self.coordinator}' is not one of the departments of '{self.name}')"
            )
        return self

    def key(self, agreement_id: str) -> str:
        """The party's identity: its organisation id, or — declared only in this agreement — scoped to it."""
        return self.ref or self.id or f"{agreement_id}:{self.name}"


class Term(Strict):
    start: dt.date
    end: dt.date

    @model_validator(mode="after")
    def _ordered(self) -> Term:
        if self.end < self.start:
            raise ValueError(
                f"协议期结束日 {self.end} 早于开始日 {self.start} (term end {self.end} is before start {self.start})"
            )
        if (self.end - self.start).days > 366 * 20:
            raise ValueError("协议期超过 20 年 (term longer than 20 years)")
        return self


class WorkdayRule(Strict):
    """The n-th working day of each month / quarter / half-year / year; negative n counts from its end."""

    n: int = Field(ge=-260, le=260, description="第几个工作日：5 = 第5个，-1 = 最后一个")
    of: WorkdayPeriod = Field(description="month / quarter / half_year / year（按自然月、季、半年、年）")

    @field_validator("of", mode="before")
    @classmethod
    def _known_period(cls, v: object) -> object:
        if v not in _PERIOD_LABELS:
            options = "、".join(f"{k}（{label}）" for k, label in _PERIOD_LABELS.items())
            raise ValueError(f"of: '{v}' 不是可用的周期；可选 {options} (unknown period)")
        return v

    @field_validator("n")
    @classmethod
    def _not_zero(cls, v: int) -> int:
        if v == 0:
            raise ValueError("n 不能为 0：1 是第一个工作日，-1 是最后一个工作日 (n must not be 0)")
        return v


_FORMS = ("rrule", "every", "once", "deadline", "workday", "dates", "anchor", "season", "on_demand")


class Recurrence(Strict):
    """Exactly one of `rrule`, `every`, `once`, `deadline`, `workday`, `dates`, `anchor`, `season`, `on_demand`."""

    rrule: str | None = Field(default=None, description="RFC 5545 RRULE; DTSTART is the term start")
    every: Period | None = Field(default=None, description="sugar: one occurrence per period, due at period end")
    day: int | None = Field(default=None, ge=1, le=31, description="with `every`: day of the period's last month")
    once: dt.date | None = Field(default=None, description="a single event on this date")
    deadline: dt.date | None = Field(default=None, description="one task due by this date, open from term start")
    workday: WorkdayRule | None = Field(
        default=None, description="每月/季/半年/年的第 n 个工作日（负数从期末倒数），如 {n: 5, of: quarter}"
    )
    dates: list[IsoDate] | None = Field(
        default=None, min_length=1, max_length=1000, description="明确列出的日期 YYYY-MM-DD，须在协议期内"
    )
    anchor: Festival | None = Field(
        default=None,
        description="节日：spring_festival 春节 / qingming 清明 / dragon_boat 端午 / mid_autumn 中秋 / "
        "national_day 国庆；协议期内每年一次",
    )
    season: SeasonName | None = Field(
        default=None, description="时段（寒暑假表中的标识，如 summer_vacation 暑假 / winter_vacation 寒假）；每年一次"
    )
    # The fields below default to None (not "start", 0, …) so an agreement that does not write them stores and
    # hashes exactly as before they existed.
    region: RegionName | None = Field(
        default=None,
        description="with `season`: 按哪个地区（省/直辖市）的寒暑假时段表，如 四川、重庆；不写则按全国缺省表",
    )
    at: Literal["start", "end"] | None = Field(
        default=None, description="with `season`: start 时段第一天（缺省）/ end 最后一天"
    )
    offset: int | None = Field(
        default=None, ge=-366, le=366, description="with `anchor`/`season`: 前后偏移（缺省 0），负数为之前"
    )
    offset_unit: OffsetUnit | None = Field(
        default=None, description="offset 的单位：days 日历日（缺省）/ workdays 工作日"
    )
    on_demand: bool | None = Field(default=None, description="按需开展：没有预定日期，由协调人或部门发起一次任务")
    window_days: int = Field(default=14, ge=0, le=366, description="task opens this many days before it is due")
    adjust: Adjust = Field(
        default="previous", description="move a non-working due date to the previous/next working day"
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> Recurrence:
        given = [k for k in _FORMS if getattr(self, k) not in (None, False)]
        if len(given) != 1:
            raise ValueError(
                "须且只能写一种日程："
                + " / ".join(_FORMS)
                + (f"（现在写了 {', '.join(given)}）" if given else "")
                + " (give exactly one schedule form)"
            )
        if self.day is not None and self.every is None:
            raise ValueError("day 只能与 every 一起使用 (`day` only goes with `every`)")
        moves = self.anchor is not None or self.season is not None
        if not moves and (self.offset is not None or self.offset_unit is not None):
            raise ValueError("offset / offset_unit 只能与 anchor 或 season 一起使用 (offset needs anchor or season)")
        if self.at is not None and self.season is None:
            raise ValueError("at 只能与 season 一起使用 (at needs season)")
        if self.region is not None and self.season is None:
            raise ValueError("region 只能与 season 一起使用 (region needs season)")
        if self.offset_unit == "workdays" and not self.offset:
            raise ValueError(
                "offset_unit: workdays 须配非零的 offset：-1 为之前最后一个工作日，1 为之后第一个工作日"
                "（要节日当天请省略 offset_unit）"
            )
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
            raise ValueError(f"'{v}' 不是 RRULE，应写成如 FREQ=MONTHLY;BYMONTHDAY=15 (is not an RRULE)")
        if "DTSTART" in v.upper():
            raise ValueError("rrule 中不能写 DTSTART，起点取协议期开始日 (DTSTART is not allowed in rrule)")
        return v

    @field_validator("anchor", mode="before")
    @classmethod
    def _known_festival(cls, v: object) -> object:
        if v is not None and v not in FESTIVAL_LABELS:
            options = "、".join(f"{k}（{label}）" for k, label in FESTIVAL_LABELS.items())
            raise ValueError(f"anchor: '{v}' 不是可用的节日；可选 {options} (unknown festival)")
        return v

    @field_validator("dates")
    @classmethod
    def _distinct(cls, v: list[dt.date] | None) -> list[dt.date] | None:
        if v is None:
            return v
        seen: set[dt.date] = set()
        for day in v:
            if day in seen:
                raise ValueError(f"日期 {day} 重复 (date listed twice)")
            seen.add(day)
        return v

    @property
    def fixed_form(self) -> bool:
        """True for the forms written before workday/dates/anchor/season/on_demand existed."""
        return self.workday is None and self.dates is None and self.anchor is None and self.season is None

    def describe(self) -> str:
        """The schedule in Chinese words, for messages: 每季度第5个工作日, 春节前3个工作日 …"""
        if self.workday is not None:
            n, period = self.workday.n, _PERIOD_LABELS[self.workday.of]
            return f"每{period}第{n}个工作日" if n > 0 else f"每{period}倒数第{-n}个工作日"
        if self.anchor is not None or self.season is not None:
            base = (
                FESTIVAL_LABELS[self.anchor]
                if self.anchor
                else f"{SEASON_LABELS.get(self.season or '', self.season)}{'结束' if self.at == 'end' else '开始'}"
            )
            unit = "个工作日" if self.offset_unit == "workdays" else "天"
            offset = self.offset or 0
            return base + (f"前{-offset}{unit}" if offset < 0 else f"后{offset}{unit}" if offset else "当天")
        if self.dates is not None:
            return f"指定日期（{len(self.dates)} 个）"
        if self.on_demand:
            return "按需开展"
        return "周期日程"


class Responsible(Strict):
    """One named department of one party; the coordinator (or named) department of each party; or of each round's
    host (`from_host: true`, with `rotate`)."""

    party: Name | None = None
    department: Name | None = None
    each_party: bool = False
    from_host: bool = Field(
        default=False, description="轮值承办：每轮由承办方（rotate）的 department（缺省为其牵头联络部门）负责"
    )

    @model_validator(mode="after")
    def _one_way(self) -> Responsible:
        ways = [k for k in ("party", "each_party", "from_host") if getattr(self, k)]
        if len(ways) > 1:
            raise ValueError(f"{' 与 '.join(ways)} 互相排斥，只能写一个 (`{'` and `'.join(ways)}` exclude each other)")
        if not ways:
            raise ValueError(
                "须写 party、each_party: true 或 from_host: true (name a `party` or set `each_party: true`)"
            )
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
    sign_off: Literal["lead", "all"] = Field(
        default="lead",
        description="办结方式：lead（默认）责任方报告即办结；all 责任方和每个协办方各自报告本方部分后才办结",
    )
    recurrence: Recurrence
    rotate: list[Name] = Field(default_factory=list, description="承办方轮值, in order")
    location: str | None = None
    location_from_host: bool = Field(default=False, description="每轮的地点取承办方（rotate）的 location")
    targets: dict[
        Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$")], Annotated[int, Field(ge=0, le=10**9)]
    ] = Field(default_factory=dict, description="numeric targets per occurrence, e.g. resident_questionnaires: 13200")
    total_targets: TermTargets = Field(
        default_factory=dict, description="协议期内的总目标，如 三年打造10个品牌项目：brand_projects: 10"
    )
    evidence: list[Name] = Field(default_factory=list, description="需提交的佐证材料")
    reminders: ReminderPolicy | None = Field(default=None, description="提醒规则；不写则沿用协议的 reminders 或默认值")

    def occurrence_targets(self) -> dict[str, int]:
        """What each occurrence tracks: its `targets`, and every term-target metric at 0 (reports may add to it,
        with no per-occurrence quota), so forms, reports and exports know the metric."""
        return {**dict.fromkeys(self.total_targets, 0), **self.targets}

    @model_validator(mode="after")
    def _host_needs_rotation(self) -> Clause:
        if (self.responsible.from_host or self.location_from_host) and not self.rotate:
            raise ValueError("responsible.from_host / location_from_host 需要 rotate（承办方轮值顺序）")
        if self.location_from_host and self.location:
            raise ValueError("location 与 location_from_host 互相排斥：地点取自承办方时不要再写 location")
        if self.sign_off == "all" and not self.co_organisers:
            raise ValueError("sign_off: all 需要 co_organisers（协办方）：没有协办方时无需联合办结")
        return self


class Programme(Strict):
    id: Annotated[str, StringConstraints(pattern=r"^[0-9A-Za-z]+$", max_length=20)]
    title: Name
    clauses: list[Clause] = Field(min_length=1)
    total_targets: TermTargets = Field(
        default_factory=dict, description="本工程协议期内的总目标；不写则为各条款总目标之和"
    )


class Amendment(Strict):
    """一次修订（补充协议）：自 `date` 起，文件中的新文本只作用于到期日不早于该日、尚未办结的任务。"""

    date: dt.date = Field(description="生效日期：早于它到期的任务一律不增、不改、不取消")
    ref: Name = Field(description="补充协议名称或文号，如 补充协议（一）")
    note: Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)] | None = Field(
        default=None, description="修订说明"
    )


class Agreement(Strict):
    id: Ident
    title: Name
    signed: dt.date
    term: Term
    source: str | None = Field(default=None, description="出处 (news report etc.)")
    parties: list[Party] = Field(min_length=1)
    programmes: list[Programme] = Field(min_length=1)
    reminders: ReminderPolicy | None = Field(default=None, description="全协议的提醒规则（条款可单独覆盖）")
    amended: list[Amendment] = Field(
        default_factory=list, description="修订记录，按生效日期先后排列；最新一条决定本次重新计划的生效日期"
    )
    tracking_from: dt.date | None = Field(
        default=None, description="自该日起跟踪：更早到期的任务作为历史记录保留，不算逾期、不督办、不计入完成率"
    )
    total_targets: TermTargets = Field(
        default_factory=dict, description="全协议协议期内的总目标；不写则为各工程总目标之和"
    )
    metric_labels: dict[MetricName, Name] = Field(
        default_factory=dict, description="本协议指标的中文名称，如 brand_projects: 品牌项目数（覆盖通用名称表）"
    )


def date_problems(agreement: Agreement) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """Checks of `amended`, `tracking_from` and the clauses' schedules against the term and the parties:
    (where in the file, 中文说明)."""
    yield from _clause_problems(agreement)
    term = agreement.term
    previous: Amendment | None = None
    refs: set[str] = set()
    for i, a in enumerate(agreement.amended):
        where = f"修订记录 #{i + 1}（{a.ref}）"
        if a.date < agreement.signed:
            yield ("amended", i, "date"), f"{where}的生效日期 {a.date} 早于签署日期 {agreement.signed}"
        elif a.date > term.end:
            yield ("amended", i, "date"), f"{where}的生效日期 {a.date} 晚于协议期结束日 {term.end}"
        if previous is not None and a.date <= previous.date:
            yield (
                ("amended", i, "date"),
                f"{where}的生效日期 {a.date} 不晚于上一条（{previous.ref}，{previous.date}）；"
                "修订记录须按生效日期先后排列，同一天只写一条",
            )
        if a.ref in refs:
            yield ("amended", i, "ref"), f"{where}：文号 '{a.ref}' 重复"
        refs.add(a.ref)
        previous = a
    start = agreement.tracking_from
    if start is not None and not (term.start <= start <= term.end):
        yield ("tracking_from",), f"tracking_from {start} 不在协议期 {term.start} – {term.end} 内"


def _clause_problems(agreement: Agreement) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """Explicit dates inside the term; a host hand-over only to parties that have the department and location."""
    term = agreement.term
    parties = {p.name: p for p in agreement.parties}
    for pi, programme in enumerate(agreement.programmes):
        for ci, clause in enumerate(programme.clauses):
            at: tuple[str | int, ...] = ("programmes", pi, "clauses", ci)
            label = f"条款 {clause.id}"
            for i, day in enumerate(clause.recurrence.dates or []):
                if not term.start <= day <= term.end:
                    yield (
                        (*at, "recurrence", "dates", i),
                        f"{label} 的日期 {day} 不在协议期 {term.start} – {term.end} 内 (date outside the term)",
                    )
            hosts = [parties[name] for name in dict.fromkeys(clause.rotate) if name in parties]
            department = clause.responsible.department
            if clause.responsible.from_host and department:
                for party in hosts:
                    if department not in {d.name for d in party.departments}:
                        yield (
                            (*at, "responsible", "department"),
                            f"{label}：承办方 '{party.name}' 没有部门 '{department}'，轮到它承办时无人负责",
                        )
            if clause.location_from_host:
                for party in hosts:
                    if not party.location:
                        yield (
                            (*at, "location_from_host"),
                            f"{label}：承办方 '{party.name}' 没有写 location，轮到它承办时地点不明",
                        )
