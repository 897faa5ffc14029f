"""Auditor JSON API: read-only queries on a read-only database connection, and streamed exports."""

from __future__ import annotations

from typing import Annotated, Literal
from urllib.parse import quote

from fastapi import APIRouter, Depends, HTTPException, Path, Query
from fastapi.responses import FileResponse, StreamingResponse

from coop.audit import AuditSummary, GroupBy
from coop.export import MEDIA_TYPES, export_chunks
from coop.services import audit, verification
from coop.settings import Settings
from coop.store.audit import AuditFilter
from coop.store.occurrences import is_storable
from coop.web.deps import AuditorDep, SettingsDep
from coop.web.schemas import (
    ClauseHistoryOut,
    Day,
    OccurrenceHistoryOut,
    OverdueReport,
    ProgressReport,
    RatesReport,
    VerifyOut,
    error_responses,
)

router = APIRouter(prefix="/api/v1/audit", tags=["审计 audit"])
ERRORS = error_responses(400, 401, 403, 404, 422)
Name = Annotated[str | None, Query(max_length=200)]


class AuditQuery:
    """The filter and day every audit query takes, from query parameters."""

    def __init__(
        self,
        agreement: Name = None,
        programme: Name = None,
        clause: Name = None,
        party: Name = None,
        department: Annotated[str | None, Query(max_length=400, description="单位/部门，或部门编号")] = None,
        due_from: Annotated[Day | None, Query(description="截止日期不早于")] = None,
        due_to: Annotated[Day | None, Query(description="截止日期不晚于")] = None,
        as_of: Annotated[Day | None, Query(description="查询哪一天结束时的状态（默认今天），据台账重建")] = None,
    ) -> None:
        plain([agreement, programme, clause, party, department])
        self.filter = audit.check_filter(AuditFilter(agreement, programme, clause, party, department, due_from, due_to))
        self.day = audit.audit_day(as_of)  # a day not yet ended is a CoopError: 422 with the Chinese message

    def summary(self, settings: Settings, group_by: GroupBy = "agreement", overdue_limit: int = 200) -> AuditSummary:
        return audit.summarise(settings, self.filter, self.day, group_by, overdue_limit)


def plain(values: list[str | None]) -> None:
    """Names compared in SQL must be storable text; anything else cannot match and is refused up front."""
    if not all(is_storable(v) for v in values if v is not None):
        raise HTTPException(422, "参数含有不允许的字符 (NUL or unpaired surrogate)")


QueryDep = Annotated[AuditQuery, Depends()]
GroupByQuery = Annotated[
    GroupBy, Query(description="分组：agreement / programme / party / department / month / quarter / year")
]


@router.get("/rates", response_model=RatesReport, responses=ERRORS)
def rates(_: AuditorDep, settings: SettingsDep, query: QueryDep, group_by: GroupByQuery = "agreement") -> RatesReport:
    """完成率与按时率，按协议 / 工程 / 单位 / 部门 / 时段分组。"""
    summary = query.summary(settings, group_by, overdue_limit=0)
    return RatesReport.model_validate(
        {
            "as_of": summary.as_of,
            "group_by": group_by,
            "overall": summary.overall.as_dict(),
            "groups": [g.as_dict() for g in summary.groups],
        }
    )


@router.get("/overdue", response_model=OverdueReport, responses=ERRORS)
def overdue(
    _: AuditorDep,
    settings: SettingsDep,
    query: QueryDep,
    group_by: GroupByQuery = "agreement",
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
) -> OverdueReport:
    """逾期清单（最早的在前），`group` 字段按所选维度标注。"""
    summary = query.summary(settings, group_by, overdue_limit=limit)
    return OverdueReport.model_validate(
        {"as_of": summary.as_of, "count": summary.overdue_count, "items": [i.__dict__ for i in summary.overdue]}
    )


@router.get("/progress", response_model=ProgressReport, responses=ERRORS)
def progress(_: AuditorDep, settings: SettingsDep, query: QueryDep) -> ProgressReport:
    """量化指标进度：各条款已报告的指标合计与目标。"""
    summary = query.summary(settings, overdue_limit=0)
    return ProgressReport.model_validate(
        {"as_of": summary.as_of, "items": [{**p.__dict__, "ratio": p.ratio} for p in summary.progress]}
    )


@router.get("/occurrences/{occurrence_id}/history", response_model=OccurrenceHistoryOut, responses=ERRORS)
def history_of_occurrence(
    occurrence_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
    _: AuditorDep,
    settings: SettingsDep,
    as_of: Annotated[Day | None, Query(description="只列出该日结束前的事件")] = None,
) -> OccurrenceHistoryOut:
    """一项任务的完整台账记录：计划、状态变化、报告（含佐证哈希）、豁免。"""
    history = audit.occurrence_history(settings, occurrence_id, as_of)
    return OccurrenceHistoryOut.model_validate({**history.__dict__, "events": [e.__dict__ for e in history.events]})


@router.get("/agreements/{agreement_id}/clauses/{clause}/history", response_model=ClauseHistoryOut, responses=ERRORS)
def history_of_clause(
    agreement_id: Annotated[str, Path(max_length=80)],
    clause: Annotated[str, Path(max_length=40)],
    _: AuditorDep,
    settings: SettingsDep,
    as_of: Annotated[Day | None, Query(description="只列出该日结束前的事件")] = None,
) -> ClauseHistoryOut:
    """一个条款的全部台账记录（协议计划及其所有任务的事件）。"""
    plain([agreement_id, clause])
    history = audit.clause_history(settings, agreement_id, clause, as_of)
    return ClauseHistoryOut.model_validate({**history.__dict__, "events": [e.__dict__ for e in history.events]})


@router.get(
    "/export.{fmt}",
    responses={
        **ERRORS,
        200: {"content": {MEDIA_TYPES["csv"]: {}, MEDIA_TYPES["xlsx"]: {}}, "description": "CSV (UTF-8 BOM) or XLSX"},
    },
    response_class=StreamingResponse,
)
def export(
    fmt: Annotated[Literal["csv", "xlsx"], Path()], _: AuditorDep, settings: SettingsDep, query: QueryDep
) -> StreamingResponse:
    """导出任务状态明细（流式输出，百万行也不占用大量内存）。"""
    # The rows' read-only session lives inside their generator: open exactly as long as the response streams.
    rows = audit.export_rows(settings, query.filter, query.day)
    name = f"coop-audit-{query.day.as_of}.{fmt}"
    return StreamingResponse(
        export_chunks(fmt, rows),
        media_type=MEDIA_TYPES[fmt],
        headers={"Content-Disposition": f"attachment; filename=\"{name}\"; filename*=UTF-8''{quote(name)}"},
    )


@router.get("/verify", response_model=VerifyOut, responses=ERRORS)
def verify_ledger(_: AuditorDep, settings: SettingsDep) -> VerifyOut:
    """校验台账：哈希链、签名检查点，并据台账重建任务状态与报告、逐项核对数据表。"""
    result = verification.verify_ledger(settings)
    brk = result.first_break
    return VerifyOut(
        ok=result.ok,
        events=result.events,
        head_matches=result.head_matches,
        first_break_event=brk.event_id if brk else None,
        first_break_reason=brk.reason if brk else None,
        head_id=result.head_id,
        head_hash=result.head_hash,
        untrusted_from=result.untrusted_from,
        checkpoints=result.checkpoints.checked,
        checkpoint_problems=result.checkpoints.problems,
        differences=result.differences.count,
        difference_lines=result.differences.shown,
        lines=result.lines(),
    )


@router.get(
    "/evidence/{sha256}",
    response_class=FileResponse,
    responses={**ERRORS, 200: {"content": {"application/octet-stream": {}}, "description": "the stored file"}},
)
def download_evidence(
    sha256: Annotated[str, Path(pattern=r"^[0-9a-f]{64}$")], _: AuditorDep, settings: SettingsDep
) -> FileResponse:
    """下载佐证文件（按 sha256）。"""
    found = audit.evidence_download(settings, sha256)
    if found is None:
        raise HTTPException(404, f"找不到佐证文件 sha256:{sha256} (unknown evidence file)")
    return FileResponse(found.path, media_type=found.content_type, filename=found.filename)
