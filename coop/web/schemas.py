"""JSON shapes of the API; validation here turns absurd input into 422 before anything is written.

What the API shows of stored things is the read model beside the tables (`models/read.py`), named here `*Out`;
the classes written here are the request bodies and the replies that exist only in the API.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any, Literal

from fastapi import Path
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints

from coop.audit import GroupBy
from coop.store.occurrences import MAX_EVIDENCE, MAX_METRIC, MAX_NOTE, is_storable
from models.read import (
    ClauseHistoryPublic,
    DepartmentOccurrencePublic,
    DepartmentPublic,
    HistoryEventPublic,
    OccurrenceHistoryPublic,
    OverduePublic,
    ProgressPublic,
    RatesPublic,
)


def _whole_number(value: Any) -> Any:
    """JSON whole numbers only: 12 and 12.0 are fine, "12", true and 12.5 are not."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError("应为整数 (must be a whole number)")
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError("应为整数 (must be a whole number)")
        return int(value)
    return value


def _plain_text(value: str) -> str:
    """Text that every database can store: no NUL characters, no unpaired surrogates."""
    if not is_storable(value):
        raise ValueError("文本含有不允许的字符 (NUL or unpaired surrogate)")
    return value


PlainText = Annotated[str, AfterValidator(_plain_text)]
AgreementIdPath = Annotated[
    str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,79}$", description="协议标识（协议文件中的 id）")
]
ClausePath = Annotated[
    str, Path(pattern=r"^[0-9A-Za-z]+(\.[0-9A-Za-z]+)*$", max_length=40, description="条款编号，如 9.1")
]


def _iso_date(value: Any) -> Any:
    """Dates as YYYY-MM-DD only; pydantic would otherwise read a number as a Unix timestamp."""
    if isinstance(value, dt.date):
        return value
    if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        raise ValueError("日期应写作 YYYY-MM-DD (date must be YYYY-MM-DD)")
    return value


Day = Annotated[dt.date, BeforeValidator(_iso_date)]
MetricName = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_]{0,63}$")]
MetricValue = Annotated[int, Field(ge=0, le=MAX_METRIC), BeforeValidator(_whole_number)]
EvidenceItem = Annotated[PlainText, StringConstraints(min_length=1, max_length=500)]


class ReportIn(BaseModel):
    """A completion report from a department (the same fields as the web form and `coop done`)."""

    model_config = ConfigDict(extra="forbid")

    outcome: Literal["done", "partial", "cannot"] = Field(
        "done", description="done 已完成 / partial 部分完成 / cannot 无法完成"
    )
    participants: MetricValue | None = Field(None, description="参与人数")
    metrics: dict[MetricName, MetricValue] = Field(
        default_factory=dict,
        max_length=50,
        description='本次新增的指标数量，按条款目标名称，如 {"participants": 48}',
        json_schema_extra={"additionalProperties": False},  # names outside the pattern are refused, say so
    )
    evidence: list[EvidenceItem] = Field(
        default_factory=list,
        max_length=MAX_EVIDENCE,
        description="佐证材料：http(s) 链接，或先上传文件得到的 sha256:<哈希>",
    )
    note: Annotated[PlainText, StringConstraints(max_length=MAX_NOTE)] | None = Field(
        None, description="说明（无法完成时必填）"
    )


class ReportOut(BaseModel):
    occurrence_id: int
    event_id: int = Field(description="台账事件编号")
    status: str


DepartmentOut = DepartmentPublic


class MeOut(BaseModel):
    role: str
    label: str
    department: DepartmentOut | None = None


OccurrenceOut = DepartmentOccurrencePublic


class EvidenceOut(BaseModel):
    sha256: str
    ref: str = Field(description="在报告的 evidence 中引用此文件：sha256:<哈希>")
    size: int
    content_type: str
    filename: str


class ReasonIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Annotated[PlainText, StringConstraints(min_length=1, max_length=MAX_NOTE)] = Field(
        description="理由，记入台账"
    )


class OpenOnDemandIn(ReasonIn):
    """Open one occurrence of an on-demand clause (`recurrence: {on_demand: true}`)."""

    due_date: Day | None = Field(
        None, description="截止日期 YYYY-MM-DD（须在协议期内）；不填则为今天起条款的 window_days 天"
    )


class OpenedOut(BaseModel):
    occurrence_id: int
    key: str = Field(description="任务标识：条款@发起日")
    event_id: int = Field(description="台账事件编号")
    actor: str = Field(description="台账中记录的发起人")
    department_id: int
    window_start: dt.date
    due_date: dt.date
    status: str


class EventOut(BaseModel):
    occurrence_id: int
    event_id: int
    status: str


class PlanIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    agreement_file: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,120}\.ya?ml$")] = Field(
        description="协议文件夹（COOP_AGREEMENTS_DIR）中的文件名，如 yugang-social-work-2024.yaml"
    )
    today: Day | None = Field(None, description="计划基准日（默认今天）")


class PlanOut(BaseModel):
    agreement_id: str
    version: int
    unchanged: bool
    created: int
    updated: int
    cancelled: int
    kept: int


class LinkIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    department: Annotated[PlainText, StringConstraints(min_length=1, max_length=400)] = Field(
        description="单位/部门，或部门编号"
    )
    occurrence_id: Annotated[int, Field(ge=1, le=2**31 - 1), BeforeValidator(_whole_number)] | None = Field(
        None, description="给出则生成该任务的报告链接，否则生成任务清单链接"
    )


class LinkOut(BaseModel):
    url: str
    purpose: str
    expires_at: dt.datetime


RatesOut = RatesPublic


class RatesReport(BaseModel):
    as_of: dt.date
    group_by: GroupBy
    overall: RatesOut
    groups: list[RatesOut]


OverdueOut = OverduePublic


class OverdueReport(BaseModel):
    as_of: dt.date
    count: int
    items: list[OverdueOut]


ProgressOut = ProgressPublic


class ProgressReport(BaseModel):
    as_of: dt.date
    items: list[ProgressOut]


HistoryEventOut = HistoryEventPublic


OccurrenceHistoryOut = OccurrenceHistoryPublic


ClauseHistoryOut = ClauseHistoryPublic


class VerifyOut(BaseModel):
    """`coop audit verify` as JSON: the chain, the head to keep elsewhere, checkpoints, tables against the ledger."""

    ok: bool
    events: int
    head_matches: bool
    first_break_event: int | None
    first_break_reason: str | None
    head_id: int = 0
    head_hash: str = ""
    untrusted_from: int | None = Field(default=None, description="自此事件起历史不再可信")
    checkpoints: int = 0
    checkpoint_problems: list[str] = []
    differences: int = Field(default=0, description="表与台账不一致之处的数目")
    difference_lines: list[str] = Field(default=[], description="前 200 处差异，中文")
    lines: list[str] = Field(default=[], description="校验结论，每行一句")


class ErrorOut(BaseModel):
    """A refusal: a sentence in Chinese and English, or FastAPI's list of field errors."""

    detail: str | list[dict[str, Any]]


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI `responses` of a router: every error status it may answer with has the one `ErrorOut` shape."""
    return {code: {"model": ErrorOut} for code in codes}
