"""Department JSON API: a department token sees and reports only its own occurrences."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, File, HTTPException, Path, Query, UploadFile, status
from fastapi.responses import FileResponse

from coop import evidence as files
from coop.access import Principal, Role
from coop.report import CompletionReport
from coop.services import evidence, on_demand, reports
from coop.store import access as store
from coop.web.deps import DepartmentDep, PrincipalDep, SettingsDep
from coop.web.schemas import (
    AgreementIdPath,
    ClausePath,
    DepartmentOut,
    ErrorOut,
    EvidenceOut,
    MeOut,
    OccurrenceOut,
    OpenedOut,
    OpenOnDemandIn,
    ReportIn,
    ReportOut,
    error_responses,
)
from models.db import session_scope

Sha256 = Annotated[str, Path(pattern=r"^[0-9a-f]{64}$", description="文件的 sha256（上传时返回）")]

router = APIRouter(prefix="/api/v1", tags=["部门 department"])
OccurrenceId = Annotated[int, Path(ge=1, le=2**31 - 1, description="任务编号")]
ERRORS = error_responses(400, 401, 413, 403, 404, 422)


@router.get("/me", response_model=MeOut, responses={400: {"model": ErrorOut}, 401: {"model": ErrorOut}})
def me(principal: PrincipalDep, settings: SettingsDep) -> MeOut:
    """当前令牌的角色与部门。"""
    department = None
    if principal.department_id is not None:
        with session_scope(settings.database_url) as session:
            view = store.department_view(session, principal.department_id)
        if view is not None:
            department = DepartmentOut(id=view.id, party=view.party, name=view.name)
    return MeOut(role=str(principal.role), label=principal.label, department=department)


@router.get("/occurrences", response_model=list[OccurrenceOut], responses=ERRORS)
def list_occurrences(
    principal: DepartmentDep,
    settings: SettingsDep,
    status_filter: Annotated[
        Literal["open", "all"], Query(alias="status", description="open 未完成 / all 全部")
    ] = "open",
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=10**7)] = 0,
) -> list[OccurrenceOut]:
    """本部门的任务（默认只列未完成的），按截止日期排序。"""
    with session_scope(settings.database_url) as session:
        rows = store.occurrences_for_department(session, _department(principal), status_filter == "open", limit, offset)
    return [OccurrenceOut(**row.__dict__) for row in rows]


@router.get("/occurrences/{occurrence_id}", response_model=OccurrenceOut, responses=ERRORS)
def get_occurrence(occurrence_id: OccurrenceId, principal: DepartmentDep, settings: SettingsDep) -> OccurrenceOut:
    """一项本部门的任务；其他部门的任务编号返回 404。"""
    with session_scope(settings.database_url) as session:
        row = store.occurrence_for_department(session, _department(principal), occurrence_id)
    return OccurrenceOut(**row.__dict__)


@router.post(
    "/occurrences/{occurrence_id}/reports",
    response_model=ReportOut,
    status_code=status.HTTP_201_CREATED,
    responses={**ERRORS, 409: {"model": ErrorOut}},
)
def report(occurrence_id: OccurrenceId, body: ReportIn, principal: DepartmentDep, settings: SettingsDep) -> ReportOut:
    """报告完成情况（与网页表单、`coop done` 走同一路径，写入台账）。"""
    department_id = _department(principal)
    completion = CompletionReport(
        occurrence_id=occurrence_id,
        department=str(department_id),
        outcome=body.outcome,
        participants=body.participants,
        metrics=dict(body.metrics),
        evidence=list(body.evidence),
        note=body.note,
    )
    # Another department's occurrence is refused inside the service exactly like a missing id (404).
    recorded = reports.record_department_report(
        settings.database_url, department_id, completion, principal.actor, [], settings.evidence_dir
    )
    return ReportOut(occurrence_id=occurrence_id, event_id=recorded.event_id, status=recorded.occurrence.status)


@router.post(
    "/agreements/{agreement_id}/clauses/{clause}/occurrences",
    response_model=OpenedOut,
    status_code=status.HTTP_201_CREATED,
    responses=ERRORS,
)
def open_on_demand(
    agreement_id: AgreementIdPath,
    clause: ClausePath,
    body: OpenOnDemandIn,
    principal: DepartmentDep,
    settings: SettingsDep,
) -> OpenedOut:
    """发起一项本部门负责的按需开展任务（条款写 on_demand: true），承办部门为本部门，写入台账。"""
    opened = on_demand.open_on_demand_for_department(
        settings.database_url,
        _department(principal),
        principal.actor,
        agreement_id,
        clause,
        body.reason,
        due_date=body.due_date,
    )
    return OpenedOut(**opened.__dict__)


@router.post(
    "/evidence",
    response_model=EvidenceOut,
    status_code=status.HTTP_201_CREATED,
    responses={**ERRORS, 413: {"model": ErrorOut}, 415: {"model": ErrorOut}},
)
def upload_evidence(
    file: Annotated[UploadFile, File(description="PDF、JPEG、PNG、WebP、docx/xlsx/pptx")],
    principal: DepartmentDep,
    settings: SettingsDep,
) -> EvidenceOut:
    """上传一个佐证文件，得到 sha256 引用；在报告的 evidence 中写 `sha256:<哈希>` 引用它。

    只能引用本部门（或协调人）上传的文件；未被报告引用的上传在 COOP_EVIDENCE_TTL_HOURS 小时后自动清理，
    未引用的上传合计不得超过 COOP_EVIDENCE_QUOTA_MB（超出返回 413）。"""
    department_id = _department(principal)
    staged = files.stage(file.file, file.filename, settings.evidence_dir, settings.max_upload_bytes)
    row = evidence.upload(settings, staged, department_id)
    return EvidenceOut(
        sha256=row.sha256,
        ref=f"sha256:{row.sha256}",
        size=row.size,
        content_type=row.content_type,
        filename=row.filename,
    )


@router.get(
    "/evidence/{sha256}",
    response_class=FileResponse,
    responses={**ERRORS, 200: {"content": {"application/octet-stream": {}}, "description": "本部门上传的文件"}},
)
def download_evidence(sha256: Sha256, principal: DepartmentDep, settings: SettingsDep) -> FileResponse:
    """下载本部门（或协调人）上传的佐证文件；其他部门的文件与不存在的文件一样返回 404。"""
    found = evidence.department_download(settings, sha256, _department(principal))
    if found is None:
        raise HTTPException(404, "找不到本部门上传的佐证文件 (unknown evidence file)")
    return FileResponse(found.path, media_type=found.content_type, filename=found.filename)


def _department(principal: Principal) -> int:
    assert principal.role == Role.department and principal.department_id is not None
    return principal.department_id
