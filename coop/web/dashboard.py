"""The auditors' dashboard: a page (`/audit`) drawn with the vendored ECharts, and the JSON it draws from.

The page itself carries no data and needs no token; its script sends the auditor's or coordinator's Bearer token
(typed in, or `/audit#token=…`, kept in sessionStorage and never in a URL the server sees) to the two JSON routes,
which use the same audit services as `coop audit …`. Every text reaches the page through `textContent`; the CSP
allows scripts from this origin only.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path as FilePath
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, Field

from coop.audit import LEVEL_LABELS, Rates, percent, scope_text
from coop.dashboard import DashboardFigures
from coop.history import local_time
from coop.labels import event_label, status_label
from coop.services import audit
from coop.web.audit import ERRORS, QueryDep
from coop.web.deps import AuditorDep, SettingsDep
from coop.web.schemas import Day
from models.read import NarrativeEventPublic, OccurrenceNarrativePublic, OverduePublic, RatesPublic

router = APIRouter(tags=["审计 audit"])
templates = Jinja2Templates(directory=FilePath(__file__).parent / "templates")
# Scripts only from this origin (the vendored ECharts and dashboard.js); ECharts sets inline styles on its elements.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


class ProgrammeRatesOut(RatesPublic):
    """Rates of one programme (`group` = `协议 / 工程编号`) with the programme's title."""

    title: str = ""


class OverdueHeatOut(BaseModel):
    """Overdue tasks per department (rows) and month of the due date (columns); only cells that were owed."""

    departments: list[str]
    months: list[str]
    cells: list[tuple[int, int, int]] = Field(description="[月份序号, 部门序号, 逾期任务数]")
    peak: int


class TermProgressOut(BaseModel):
    """Reported total against the term target of one programme or agreement, for one metric."""

    level: str
    level_label: str
    agreement_id: str
    scope: str
    scope_label: str
    title: str
    metric: str
    label: str
    reported: int
    target: int
    ratio: float | None
    ratio_text: str


class DashboardOut(BaseModel):
    """Everything the dashboard draws, as of the end of `as_of` (Asia/Shanghai)."""

    as_of: dt.date
    filters: dict[str, str]
    overall: RatesPublic
    by_department: list[RatesPublic]
    by_party: list[RatesPublic]
    by_programme: list[ProgrammeRatesOut]
    by_month: list[RatesPublic] = Field(description="按截止月份：完成情况随时间的变化")
    heat: OverdueHeatOut
    overdue_count: int
    overdue: list[OverduePublic] = Field(description="最早的逾期任务（至多 limit 项）")
    progress: list[TermProgressOut] = Field(description="工程与协议的协议期目标进度")


def _rates(r: Rates) -> RatesPublic:
    return RatesPublic.model_validate(r.as_dict())


def dashboard_out(figures: DashboardFigures) -> DashboardOut:
    summary = figures.summary
    programmes = []
    for r in figures.by_programme:
        agreement_id, _, code = r.group.partition(" / ")
        plan = summary.terms.get(agreement_id)
        title = plan.programmes.get(code, "") if plan else ""
        programmes.append(ProgrammeRatesOut.model_validate({**r.as_dict(), "title": title}))
    progress = [
        TermProgressOut(
            level=t.level,
            level_label=LEVEL_LABELS[t.level],
            agreement_id=t.agreement_id,
            scope=t.scope,
            scope_label=scope_text(t),
            title=t.title,
            metric=t.metric,
            label=t.label,
            reported=t.reported,
            target=t.target,
            ratio=t.ratio,
            ratio_text=percent(t.ratio),
        )
        for t in summary.rollup
        if t.level != "clause"
    ]
    heat = figures.heat
    return DashboardOut(
        as_of=summary.as_of,
        filters={k: str(v) for k, v in summary.filters.items()},
        overall=_rates(summary.overall),
        by_department=[_rates(r) for r in summary.groups],
        by_party=[_rates(r) for r in figures.by_party],
        by_programme=programmes,
        by_month=[_rates(r) for r in figures.by_month],
        heat=OverdueHeatOut(departments=heat.departments, months=heat.months, cells=heat.cells, peak=heat.peak),
        overdue_count=summary.overdue_count,
        overdue=[OverduePublic.model_validate(i.__dict__) for i in summary.overdue],
        progress=progress,
    )


@router.get("/audit", response_class=HTMLResponse, include_in_schema=False)
def dashboard_page(request: Request) -> HTMLResponse:
    """审计看板：页面本身不含数据，数据由页面脚本带令牌向 JSON 接口读取。"""
    response = templates.TemplateResponse(request, "dashboard.html", {})
    response.headers["Content-Security-Policy"] = CSP
    return response


@router.get("/api/v1/audit/dashboard", response_model=DashboardOut, responses=ERRORS)
def dashboard_data(
    _: AuditorDep,
    settings: SettingsDep,
    query: QueryDep,
    limit: Annotated[int, Query(ge=0, le=1000, description="列出最早的逾期任务数")] = 100,
) -> DashboardOut:
    """审计看板的数据：按部门、单位、工程、月份的完成率与按时率，部门×月份逾期热力图，逾期清单，目标进度。"""
    return dashboard_out(audit.dashboard(settings, query.filter, query.day, limit))


@router.get(
    "/api/v1/audit/occurrences/{occurrence_id}/narrative", response_model=OccurrenceNarrativePublic, responses=ERRORS
)
def narrative(
    occurrence_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
    _: AuditorDep,
    settings: SettingsDep,
    as_of: Annotated[Day | None, Query(description="只列出该日结束前的事件")] = None,
) -> OccurrenceNarrativePublic:
    """一项任务的经过：每个台账事件一句中文（何时、谁、做了什么、佐证），附哈希供核对。"""
    told = audit.told_occurrence_history(settings, occurrence_id, as_of)
    history, tz = told.history, ZoneInfo(settings.timezone)
    return OccurrenceNarrativePublic(
        occurrence_id=history.occurrence_id,
        agreement_id=history.agreement_id,
        clause=history.clause,
        clause_title=history.clause_title,
        party=history.party,
        department=history.department,
        due_date=history.due_date,
        status=history.status,
        status_label=status_label(history.status),
        events=[
            NarrativeEventPublic(
                id=e.id,
                at=local_time(e.at, tz),
                actor=e.actor,
                kind=e.kind,
                label=event_label(e.kind),
                sentence=sentence,
                evidence=e.evidence,
                hash=e.hash,
            )
            for e, sentence in zip(history.events, told.sentences, strict=True)
        ],
    )
