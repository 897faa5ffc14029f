"""The department's web pages: a signed list link and a signed one-shot report form, in Chinese, phone-sized."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from sqlalchemy.exc import IntegrityError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile

from coop import evidence as files
from coop.access import LinkClaims, LinkSigner
from coop.clock import today_in_shanghai
from coop.errors import (
    CoopError,
    EvidenceRefused,
    FormInvalid,
    InvalidTransition,
    LinkError,
    LinkInvalid,
    LinkUsed,
    UnknownOccurrence,
)
from coop.labels import METRIC_LABELS, OUTCOME_LABELS, chinese_date, status_label
from coop.occurrence_status import status_on
from coop.report import CompletionReport
from coop.services import reports
from coop.settings import Settings
from coop.store import access as store
from coop.store.occurrences import MAX_EVIDENCE, MAX_METRIC, MAX_NOTE
from coop.web.limits import MAX_FILES
from models.db import session_scope
from models.tables import OPEN_STATUSES

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
_INT = re.compile(r"^\d{1,12}$")


@dataclass
class FormValues:
    outcome: str = "done"
    participants: str = ""
    metrics: dict[str, str] = field(default_factory=dict)
    evidence: str = ""
    note: str = ""


def _settings(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


def _signer(request: Request) -> LinkSigner:
    return request.app.state.signer  # type: ignore[no-any-return]


def _local(moment: dt.datetime, settings: Settings) -> str:
    return f"{moment.astimezone(ZoneInfo(settings.timezone)):%Y-%m-%d %H:%M}"


def _message(request: Request, title: str, message: str, status: int, ok: bool = False, **extra: Any) -> HTMLResponse:
    return templates.TemplateResponse(
        request, "message.html", {"title": title, "message": message, "ok": ok, **extra}, status_code=status
    )


def _link_problem(request: Request, exc: LinkError) -> HTMLResponse:
    return _message(request, "链接不可用", str(exc), exc.status)


@router.get("/", response_class=HTMLResponse)
def index(request: Request) -> HTMLResponse:
    return templates.TemplateResponse(request, "index.html", {})


@router.get("/d/{token}", response_class=HTMLResponse)
def department_list(request: Request, token: str) -> HTMLResponse:
    """One department's open occurrences; each row carries its own report link, valid no longer than this one."""
    settings, signer = _settings(request), _signer(request)
    try:
        claims = signer.read(token[:1000], "list")
    except LinkError as exc:
        return _link_problem(request, exc)
    with session_scope(settings.database_url) as session:
        department = store.department_view(session, claims.department_id)
        if department is None:
            return _link_problem(request, LinkInvalid())
        rows = store.occurrences_for_department(session, claims.department_id, open_only=True, limit=200)
    now = dt.datetime.now(dt.UTC)
    remaining = claims.expires_at - now
    today = today_in_shanghai(now)
    items = [
        {
            "occ": occ,
            "due": chinese_date(occ.due_date) + ("（暂定）" if occ.provisional else ""),
            "status_code": status_on(occ.status, occ.window_start, occ.due_date, today),
            "status": status_label(status_on(occ.status, occ.window_start, occ.due_date, today)),
            "url": f"/r/{signer.issue('report', claims.department_id, occ.id, remaining, now)}",
        }
        for occ in rows
    ]
    return templates.TemplateResponse(
        request, "list.html", {"department": department, "items": items, "expires": _local(claims.expires_at, settings)}
    )


@router.get("/r/{token}", response_class=HTMLResponse)
def report_form(request: Request, token: str) -> HTMLResponse:
    settings = _settings(request)
    try:
        claims = _signer(request).read(token[:1000], "report")
    except LinkError as exc:
        return _link_problem(request, exc)
    try:
        return _render_form(request, settings, claims, FormValues(), None, 200)
    except LinkError as exc:
        return _link_problem(request, exc)
    except UnknownOccurrence as exc:
        return _message(request, "找不到任务", str(exc), 404)


def _render_form(
    request: Request, settings: Settings, claims: LinkClaims, values: FormValues, error: str | None, status: int
) -> HTMLResponse:
    assert claims.occurrence_id is not None
    with session_scope(settings.database_url) as session:
        if store.link_used(session, claims.nonce):
            raise LinkUsed()
        department = store.department_view(session, claims.department_id)
        if department is None:
            raise LinkInvalid()
        occ = store.occurrence_for_department(session, claims.department_id, claims.occurrence_id)
    if occ.status not in OPEN_STATUSES:
        return _message(
            request, "无需再报告", f"任务 #{occ.id} 当前状态为“{status_label(occ.status)}”，不能再报告完成情况。", 409
        )
    context = {
        "occ": occ,
        "department": department,
        "due": chinese_date(occ.due_date),
        "window": f"{chinese_date(occ.window_start)} 至 {chinese_date(occ.due_date)}",
        "status": status_label(status_on(occ.status, occ.window_start, occ.due_date, today_in_shanghai())),
        "status_code": status_on(occ.status, occ.window_start, occ.due_date, today_in_shanghai()),
        "ask_participants": "participants" not in occ.targets,
        "form": values,
        "error": error,
        "expires": _local(claims.expires_at, settings),
        "metric_labels": METRIC_LABELS,
        "max_metric": MAX_METRIC,
        "max_note": MAX_NOTE,
        "max_files": MAX_FILES,
        "max_mb": max(1, settings.max_upload_bytes // (1024 * 1024)),
        "allowed": files.ALLOWED_KINDS,
    }
    return templates.TemplateResponse(request, "report.html", context, status_code=status)


@router.post("/r/{token}", response_class=HTMLResponse)
async def submit_report(request: Request, token: str) -> HTMLResponse:
    """Validate everything, then one transaction: link nonce + evidence rows + report + ledger event."""
    settings, signer = _settings(request), _signer(request)
    try:
        claims = signer.read(token[:1000], "report")
    except LinkError as exc:
        return _link_problem(request, exc)
    try:
        form = await request.form(max_files=MAX_FILES, max_fields=100, max_part_size=64 * 1024)
    except HTTPException as exc:
        detail = "上传的文件过多或表单内容过大" if exc.status_code == 400 else str(exc.detail)
        return _message(request, "提交失败", f"{detail}（每次最多 {MAX_FILES} 个文件）", exc.status_code)
    try:
        return await run_in_threadpool(_submit, request, settings, signer, claims, form)
    finally:
        await form.close()


def _submit(
    request: Request, settings: Settings, signer: LinkSigner, claims: LinkClaims, form: FormData
) -> HTMLResponse:
    assert claims.occurrence_id is not None
    values = _values(form)
    uploads = [f for f in form.getlist("files") if isinstance(f, UploadFile) and f.filename]
    staged: list[files.StagedEvidence] = []
    try:
        report = _completion(claims, values)
        for upload in uploads:
            staged.append(files.stage(upload.file, upload.filename, settings.evidence_dir, settings.max_upload_bytes))
        recorded = reports.record_link_report(settings.database_url, claims, report, staged, settings.evidence_dir)
    except LinkError as exc:
        return _link_problem(request, exc)
    except UnknownOccurrence as exc:
        return _message(request, "找不到任务", str(exc), 404)
    except InvalidTransition as exc:
        return _message(request, "无需再报告", str(exc), 409)
    except IntegrityError:
        return _link_problem(request, LinkUsed())
    except EvidenceRefused as exc:
        return _form_again(request, settings, claims, values, str(exc), exc.status)
    except CoopError as exc:
        return _form_again(request, settings, claims, values, str(exc), 422)
    finally:
        for item in staged:
            files.discard(item)
    occ, event_id = recorded.occurrence, recorded.event_id
    next_url = None
    if occ.status in OPEN_STATUSES:
        next_url = (
            f"/r/{signer.issue('report', claims.department_id, occ.id, dt.timedelta(hours=settings.link_ttl_hours))}"
        )
    # Back to the department's task list, for no longer than the link just used would have lasted.
    list_url = f"/d/{signer.issue('list', claims.department_id, None, claims.expires_at - dt.datetime.now(dt.UTC))}"
    return templates.TemplateResponse(
        request,
        "done.html",
        {
            "list_url": list_url,
            "occ": occ,
            "outcome": OUTCOME_LABELS[report.outcome],
            "event_id": event_id,
            "status": status_label(occ.status),
            "metric_labels": METRIC_LABELS,
            "files": staged,
            "next_url": next_url,
        },
        status_code=201,
    )


def _form_again(
    request: Request, settings: Settings, claims: LinkClaims, values: FormValues, error: str, status: int
) -> HTMLResponse:
    try:
        return _render_form(request, settings, claims, values, error, status)
    except LinkError as exc:
        return _link_problem(request, exc)
    except UnknownOccurrence as exc:
        return _message(request, "找不到任务", str(exc), 404)


def _text(form: FormData, name: str, limit: int) -> str:
    value = form.get(name)
    return value[:limit] if isinstance(value, str) else ""


def _values(form: FormData) -> FormValues:
    metrics = {key[len("metric.") :]: _text(form, key, 40).strip() for key in form if key.startswith("metric.")}
    return FormValues(
        outcome=_text(form, "outcome", 20) or "done",
        participants=_text(form, "participants", 40).strip(),
        metrics=metrics,
        evidence=_text(form, "evidence", 60_000),
        note=_text(form, "note", MAX_NOTE + 1),
    )


def _completion(claims: LinkClaims, values: FormValues) -> CompletionReport:
    """Typed report from form text; wrong numbers are refused here with the field named."""
    if values.outcome not in OUTCOME_LABELS:
        raise FormInvalid("请选择完成情况：已完成 / 部分完成 / 无法完成")
    participants = _whole(values.participants, "参与人数")
    metrics = {}
    for name, raw in values.metrics.items():
        number = _whole(raw, METRIC_LABELS.get(name, name))
        if number is not None:
            metrics[name] = number
    if participants is None and "participants" in metrics:
        # A clause that targets participants asks once; the number is both the head count and the metric.
        participants = metrics["participants"]
    links = [line.strip() for line in values.evidence.splitlines() if line.strip()]
    if len(links) > MAX_EVIDENCE:
        raise FormInvalid(f"佐证链接最多 {MAX_EVIDENCE} 个")
    assert claims.occurrence_id is not None
    return CompletionReport(
        occurrence_id=claims.occurrence_id,
        department=str(claims.department_id),
        outcome=values.outcome,  # type: ignore[arg-type]
        participants=participants,
        metrics=metrics,
        evidence=links,
        note=values.note.strip() or None,
    )


def _whole(raw: str, label: str) -> int | None:
    if raw == "":
        return None
    if not _INT.match(raw) or int(raw) > MAX_METRIC:
        raise FormInvalid(f"{label} 应为 0 至 {MAX_METRIC:,} 的整数（收到“{raw}”）")
    return int(raw)
