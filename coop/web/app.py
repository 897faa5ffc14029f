"""The FastAPI application: routers, error mapping (user mistakes are clear 4xx, never 500), body limits."""

from __future__ import annotations

import json
from urllib.parse import parse_qsl

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from coop.access import LinkError, signer
from coop.errors import CoopError, Forbidden, InvalidTransition, UnknownOccurrence
from coop.evidence import EvidenceRefused
from coop.settings import Settings, get_settings
from coop.web import audit, coordinator, department, pages
from coop.web.limits import FORM_OVERHEAD, MAX_FILES

DESCRIPTION = """
协作通 coop 的接口。三种角色：

- **部门**（部门令牌，`coop token issue --department 单位/部门`）：只能查看和报告本部门的任务；他部门的任务编号一律返回 404。
- **审计**（审计令牌，`coop token issue --auditor 姓名`）：只读；查询完成率、按时率、逾期清单、指标进度、历史、任意日期的状态，导出 CSV/XLSX。数据库连接本身也是只读的。
- **协调人**（`COOP_COORDINATOR_TOKEN`）：计划协议、豁免、取消任务，生成部门链接。

部门负责人也可以不用令牌：通知中的签名链接（`/r/…` 报告一项任务，`/d/…` 查看本部门任务清单）限时、单一用途，提交一次后失效。
"""


def status_for(exc: CoopError) -> int:
    """The HTTP status a user mistake maps to."""
    if isinstance(exc, (LinkError, EvidenceRefused)):
        return exc.status
    if isinstance(exc, UnknownOccurrence):
        return 404
    if isinstance(exc, Forbidden):
        return 403
    if isinstance(exc, InvalidTransition):
        return 409
    return 422


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    app = FastAPI(
        title="协作通 coop",
        version="0.1.0",
        description=DESCRIPTION,
        openapi_tags=[
            {"name": "部门 department", "description": "本部门的任务与完成情况报告"},
            {"name": "审计 audit", "description": "只读审计查询与导出"},
            {"name": "协调人 coordinator", "description": "计划、豁免、取消、生成链接"},
        ],
    )
    app.state.settings = settings
    app.state.signer = signer(settings)

    @app.exception_handler(CoopError)
    async def _user_error(_request: Request, exc: CoopError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=status_for(exc))

    @app.exception_handler(IntegrityError)
    async def _conflict(_request: Request, _exc: IntegrityError) -> JSONResponse:
        # Two requests racing on the same unique row (e.g. one link submitted twice at once): one wins.
        return JSONResponse({"detail": "并发冲突，请刷新后重试 (conflicting concurrent request)"}, status_code=409)

    app.include_router(pages.router)
    app.include_router(department.router)
    app.include_router(audit.router)
    app.include_router(coordinator.router)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    app.add_middleware(SecurityHeaders)
    app.add_middleware(SingleValuedQuery)
    app.add_middleware(BodyLimit, limit=settings.max_upload_bytes * MAX_FILES + FORM_OVERHEAD)
    return app


class BodyLimit:
    """Refuses request bodies over `limit` bytes with 413 — by Content-Length up front, or while reading a chunked body."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            await _too_large(send, self.limit)
            return
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise HTTPException(413, _too_large_text(self.limit))
            return message

        await self.app(scope, limited, send)


def _too_large_text(limit: int) -> str:
    return f"请求过大，超过 {limit // (1024 * 1024)} MB (request body too large)"


async def _too_large(send: Send, limit: int) -> None:
    body = json.dumps({"detail": _too_large_text(limit)}, ensure_ascii=False).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class SingleValuedQuery:
    """Refuses a query parameter given twice (`?offset=1&offset=2`): which one counts would be a guess, so ask again."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope.get("query_string"):
            names = [name for name, _ in parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True)]
            repeated = sorted({n for n in names if names.count(n) > 1})
            if repeated:
                body = json.dumps(
                    {"detail": f"查询参数重复：{', '.join(repeated)[:200]} (repeated query parameter)"},
                    ensure_ascii=False,
                ).encode()
                await send(
                    {
                        "type": "http.response.start",
                        "status": 400,
                        "headers": [
                            (b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)


class SecurityHeaders:
    """Link tokens live in URLs: never leak them in Referer headers or caches."""

    HEADERS = [
        (b"referrer-policy", b"no-referrer"),
        (b"x-content-type-options", b"nosniff"),
        (b"x-frame-options", b"DENY"),
        (b"cache-control", b"no-store"),
    ]

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {k.lower() for k, _ in message.get("headers", [])}
                message["headers"] = [*message.get("headers", []), *(h for h in self.HEADERS if h[0] not in present)]
            await send(message)

        await self.app(scope, receive, with_headers)
