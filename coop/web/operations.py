"""Coordinator operations and named coordinator tokens over JSON: each route calls one service function."""

from __future__ import annotations

import datetime as dt
import re
import tempfile
from pathlib import Path as FilePath
from typing import Annotated, Literal

from fastapi import APIRouter, File, Path, Query, UploadFile
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from coop.access import Role
from coop.errors import BackfillRefused, CoopError
from coop.services import backfill, coordinators, on_demand, operations
from coop.services.coordinators import Coordinator
from coop.web.deps import CoordinatorDep, IssuerDep, SettingsDep
from coop.web.schemas import (
    AgreementIdPath,
    ClausePath,
    OpenedOut,
    OpenOnDemandIn,
    PlainText,
    ReasonIn,
    error_responses,
)
from models.read import ApiTokenPublic

router = APIRouter(prefix="/api/v1/coordinator", tags=["协调人 coordinator"])
OccurrenceId = Annotated[int, Path(ge=1, le=2**31 - 1, description="任务编号")]
TokenId = Annotated[int, Path(ge=1, le=2**31 - 1, description="令牌编号")]
ERRORS = error_responses(400, 401, 403, 404, 409, 413, 422)
MAX_BACKFILL_BYTES = 5 * 1024 * 1024


class ExtendIn(ReasonIn):
    due_date: dt.date = Field(description="新的截止日期（晚于当前截止日期）")


class ResumeIn(ReasonIn):
    due_date: dt.date | None = Field(None, description="新的截止日期；不填则按暂停天数顺延")


class ReassignIn(ReasonIn):
    department: Annotated[PlainText, StringConstraints(min_length=3, max_length=401)] = Field(
        description="新的责任部门，写作 单位/部门（须为同一协议签约方的部门）"
    )


class OperationOut(BaseModel):
    operation: str = Field(description="操作")
    occurrence_id: int
    event_id: int = Field(description="台账事件编号")
    actor: str = Field(description="台账中记录的操作人")
    status: str
    due_date: dt.date
    department_id: int


class CoordinatorTokenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    person: Annotated[PlainText, StringConstraints(min_length=1, max_length=100)] = Field(
        description="持有人姓名，记入台账"
    )
    agreements: list[Annotated[PlainText, StringConstraints(min_length=1, max_length=80)]] = Field(
        default_factory=list, max_length=100, description="只限这些协议（不填则不限）"
    )
    ttl_days: int = Field(coordinators.DEFAULT_TTL_DAYS, ge=1, le=coordinators.MAX_TTL_DAYS, description="有效天数")


class TokenOut(BaseModel):
    id: int
    token: str = Field(description="令牌，只显示这一次")
    person: str | None
    agreements: list[str]
    expires_at: dt.datetime
    event_id: int


class RevokedOut(BaseModel):
    token_id: int
    event_id: int


class BackfillOut(BaseModel):
    source: str
    recorded: int = Field(description="补录的完成记录数")
    on_time: int = Field(description="其中按时完成的数量")
    occurrence_ids: list[int]
    event_ids: list[int]


def _out(result: operations.OperationResult) -> OperationOut:
    return OperationOut(
        operation=result.operation,
        occurrence_id=result.occurrence_id,
        event_id=result.event_id,
        actor=result.actor,
        status=result.status,
        due_date=result.due_date,
        department_id=result.department_id,
    )


def _named(principal: CoordinatorDep) -> Coordinator:
    return coordinators.coordinator_from_principal(principal)


@router.post("/occurrences/{occurrence_id}/extend", response_model=OperationOut, responses=ERRORS)
def extend(
    occurrence_id: OccurrenceId, body: ExtendIn, principal: CoordinatorDep, settings: SettingsDep
) -> OperationOut:
    """延期：给出新的截止日期和理由；提醒与升级提醒随新日期重新计算。"""
    return _out(operations.extend(settings.database_url, _named(principal), occurrence_id, body.due_date, body.reason))


@router.post("/occurrences/{occurrence_id}/suspend", response_model=OperationOut, responses=ERRORS)
def suspend(
    occurrence_id: OccurrenceId, body: ReasonIn, principal: CoordinatorDep, settings: SettingsDep
) -> OperationOut:
    """暂停：停止计算逾期，暂停期间不提醒、不升级。"""
    return _out(operations.suspend(settings.database_url, _named(principal), occurrence_id, body.reason))


@router.post("/occurrences/{occurrence_id}/resume", response_model=OperationOut, responses=ERRORS)
def resume(
    occurrence_id: OccurrenceId, body: ResumeIn, principal: CoordinatorDep, settings: SettingsDep
) -> OperationOut:
    """恢复暂停的任务：截止日期按暂停天数顺延（或改为给出的日期）。"""
    return _out(
        operations.resume(settings.database_url, _named(principal), occurrence_id, body.reason, due_date=body.due_date)
    )


@router.post("/occurrences/{occurrence_id}/reopen", response_model=OperationOut, responses=ERRORS)
def reopen(
    occurrence_id: OccurrenceId, body: ReasonIn, principal: CoordinatorDep, settings: SettingsDep
) -> OperationOut:
    """重新打开已完成的任务：原报告和台账记录保留，不复制任务。"""
    return _out(operations.reopen(settings.database_url, _named(principal), occurrence_id, body.reason))


@router.post("/occurrences/{occurrence_id}/reassign", response_model=OperationOut, responses=ERRORS)
def reassign(
    occurrence_id: OccurrenceId, body: ReassignIn, principal: CoordinatorDep, settings: SettingsDep
) -> OperationOut:
    """改派给同一协议签约方的另一个部门。"""
    return _out(
        operations.reassign(settings.database_url, _named(principal), occurrence_id, body.department, body.reason)
    )


class OpenForDepartmentIn(OpenOnDemandIn):
    department: Annotated[PlainText, StringConstraints(min_length=3, max_length=401)] = Field(
        description="承办部门，写作 单位/部门（须为协议签约方的部门）"
    )


@router.post(
    "/agreements/{agreement_id}/clauses/{clause}/occurrences",
    response_model=OpenedOut,
    responses=ERRORS,
    status_code=201,
)
def open_on_demand(
    agreement_id: AgreementIdPath,
    clause: ClausePath,
    body: OpenForDepartmentIn,
    principal: CoordinatorDep,
    settings: SettingsDep,
) -> OpenedOut:
    """发起一项按需开展的任务（条款写 on_demand: true）：指定承办部门、截止日期和理由，写入台账并通知该部门。"""
    opened = on_demand.open_on_demand(
        settings.database_url,
        _named(principal),
        agreement_id,
        clause,
        body.department,
        body.reason,
        due_date=body.due_date,
    )
    return OpenedOut(**opened.__dict__)


@router.post("/tokens", response_model=TokenOut, responses=ERRORS, status_code=201)
def issue_coordinator_token(body: CoordinatorTokenIn, principal: IssuerDep, settings: SettingsDep) -> TokenOut:
    """签发具名协调人令牌。COOP_COORDINATOR_TOKEN 只能在还没有有效协调人时签发第一个。"""
    issued_by = None if principal.role == Role.bootstrap else coordinators.coordinator_from_principal(principal)
    issued = coordinators.issue_coordinator_token(
        settings.database_url, body.person, issued_by, agreements=body.agreements, ttl_days=body.ttl_days
    )
    return TokenOut(
        id=issued.id,
        token=issued.token,
        person=issued.person,
        agreements=issued.agreements,
        expires_at=issued.expires_at,
        event_id=issued.event_id,
    )


@router.get("/tokens", response_model=list[ApiTokenPublic], responses=ERRORS)
def list_tokens(
    _: CoordinatorDep,
    settings: SettingsDep,
    role: Annotated[Literal["department", "auditor", "coordinator"] | None, Query(description="只看此角色")] = None,
    live: Annotated[bool, Query(description="只看仍有效的令牌")] = False,
) -> list[ApiTokenPublic]:
    """令牌清单（不含令牌本身）：角色、持有人、范围、有效期、是否已撤销或过期。"""
    rows = coordinators.list_tokens(settings.database_url)
    return [r for r in rows if (role is None or r.role == role) and (r.live or not live)]


@router.post("/tokens/{token_id}/revoke", response_model=RevokedOut, responses=ERRORS)
def revoke_token(token_id: TokenId, body: ReasonIn, principal: CoordinatorDep, settings: SettingsDep) -> RevokedOut:
    """撤销一个令牌（任何角色），理由记入台账。"""
    event_id = coordinators.revoke_token(settings.database_url, token_id, body.reason, _named(principal))
    return RevokedOut(token_id=token_id, event_id=event_id)


@router.post("/backfill", response_model=BackfillOut, responses=ERRORS)
def backfill_file(
    file: Annotated[UploadFile, File(description="各部门已有台账（CSV 或 XLSX），每行一项已完成的任务及其完成日期")],
    principal: CoordinatorDep,
    settings: SettingsDep,
) -> BackfillOut:
    """补录以往的完成情况：整份文件一次事务写入；任何一行有误则全部不写入，并按行号说明。"""
    coordinator = _named(principal)
    name = FilePath(file.filename or "backfill.csv").name
    suffix = FilePath(name).suffix.lower()
    if suffix not in (".csv", ".xlsx"):
        raise CoopError(f"{name}：只接受 .csv 或 .xlsx 文件 (backfill reads CSV or XLSX)")
    data = file.file.read(MAX_BACKFILL_BYTES + 1)
    if len(data) > MAX_BACKFILL_BYTES:
        raise CoopError(f"补录文件不能超过 {MAX_BACKFILL_BYTES // (1024 * 1024)} MB (backfill file too large)")
    with tempfile.TemporaryDirectory() as folder:
        # The client's file name (made safe) so messages name the file the coordinator chose.
        path = FilePath(folder) / (re.sub(r"[^\w.\-]+", "_", name).lstrip(".") or f"upload{suffix}")
        path.write_bytes(data)
        rows, problems = backfill.read_rows(path)
    if problems:
        raise BackfillRefused(name, problems)
    result = backfill.record(settings.database_url, coordinator, rows, source=name)
    return BackfillOut(
        source=result.source,
        recorded=result.recorded,
        on_time=result.on_time,
        occurrence_ids=result.occurrence_ids,
        event_ids=result.event_ids,
    )
