"""Coordinator JSON API: plan an agreement, waive or cancel an occurrence, mint department links."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path

from coop.access import LinkPurpose
from coop.clock import today_in_shanghai
from coop.services import operations, planning
from coop.services.coordinators import coordinator_from_principal
from coop.store.occurrences import agreement_of, resolve_department
from coop.web.deps import CoordinatorDep, SettingsDep, SignerDep
from coop.web.schemas import EventOut, LinkIn, LinkOut, PlanIn, PlanOut, ReasonIn, error_responses
from models.db import session_scope
from models.tables import Occurrence

router = APIRouter(prefix="/api/v1/coordinator", tags=["协调人 coordinator"])
OccurrenceId = Annotated[int, Path(ge=1, le=2**31 - 1, description="任务编号")]
ERRORS = error_responses(400, 401, 413, 403, 404, 409, 422)


@router.post("/occurrences/{occurrence_id}/waive", response_model=EventOut, responses=ERRORS)
def waive_occurrence(
    occurrence_id: OccurrenceId, body: ReasonIn, principal: CoordinatorDep, settings: SettingsDep
) -> EventOut:
    """豁免一项未完成（或已暂停）的任务，理由记入台账。"""
    result = operations.waive(settings.database_url, coordinator_from_principal(principal), occurrence_id, body.reason)
    return EventOut(occurrence_id=occurrence_id, event_id=result.event_id, status=result.status)


@router.post("/occurrences/{occurrence_id}/cancel", response_model=EventOut, responses=ERRORS)
def cancel_occurrence(
    occurrence_id: OccurrenceId, body: ReasonIn, principal: CoordinatorDep, settings: SettingsDep
) -> EventOut:
    """取消一项未完成（或已暂停）的任务（如活动停办），理由记入台账。"""
    result = operations.cancel(settings.database_url, coordinator_from_principal(principal), occurrence_id, body.reason)
    return EventOut(occurrence_id=occurrence_id, event_id=result.event_id, status=result.status)


@router.post("/plan", response_model=PlanOut, responses=ERRORS)
def plan(body: PlanIn, principal: CoordinatorDep, settings: SettingsDep) -> PlanOut:
    """按协议文件夹中的一个文件计划（或重新计划）任务；与 `plan-agreement` 流程调用相同的步骤。"""
    folder = settings.agreements_dir.resolve()
    path = (folder / body.agreement_file).resolve()
    if path.parent != folder or not path.is_file():
        raise HTTPException(404, f"协议文件夹中没有 {body.agreement_file} (no such agreement file)")
    today = body.today or today_in_shanghai()
    result = planning.plan_agreement(settings.database_url, str(path), today, principal.actor, settings=settings).result
    return PlanOut(
        agreement_id=result.agreement_id,
        version=result.version,
        unchanged=result.unchanged,
        created=result.created,
        updated=result.updated,
        cancelled=result.cancelled,
        kept=result.kept,
    )


@router.post("/links", response_model=LinkOut, responses=ERRORS)
def make_link(body: LinkIn, _: CoordinatorDep, settings: SettingsDep, signer: SignerDep) -> LinkOut:
    """为部门生成签名链接：给出任务编号则为该任务的报告链接，否则为本部门任务清单链接。"""
    with session_scope(settings.database_url) as session:
        scope = agreement_of(session, body.occurrence_id) if body.occurrence_id is not None else None
        department = resolve_department(session, body.department, scope)
        if body.occurrence_id is not None:
            occ = session.get(Occurrence, body.occurrence_id)
            if occ is None or occ.department_id != department.id:
                raise HTTPException(
                    404, f"该部门没有任务 #{body.occurrence_id} (unknown occurrence for this department)"
                )
    assert department.id is not None
    purpose: LinkPurpose = "report" if body.occurrence_id is not None else "list"
    ttl = dt.timedelta(hours=settings.link_ttl_hours)
    now = dt.datetime.now(dt.UTC)
    token = signer.issue(purpose, department.id, body.occurrence_id, ttl, now)
    prefix = "r" if purpose == "report" else "d"
    return LinkOut(
        url=f"{settings.public_base_url.rstrip('/')}/{prefix}/{token}", purpose=purpose, expires_at=now + ttl
    )
