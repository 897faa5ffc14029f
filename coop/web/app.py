"""The FastAPI application: routers, error mapping (user mistakes are clear 4xx, never 500), body limits."""

from __future__ import annotations

import json
import logging
import math
import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import anyio
from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import IntegrityError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from coop.access import check_coordinator_token, signer
from coop.errors import CoopError, EvidenceRefused, Forbidden, InvalidTransition, LinkError, UnknownOccurrence
from coop.settings import Settings, get_settings
from coop.web import audit, coordinator, dashboard, department, feeds, operations, pages
from coop.web.limits import DRAIN_BYTES, DRAIN_SECONDS, FORM_OVERHEAD, MAX_FILES, MAX_JSON_BYTES, UPLOAD_ROUTES

DESCRIPTION = """
协作通 coop 的接口。三种角色：

- **部门**（部门令牌，`coop token issue --department 单位/部门`）：
  只能查看和报告本部门的任务；他部门的任务编号一律返回 404。
- **审计**（审计令牌，`coop token issue --auditor 姓名`）：只读；
  查询完成率、按时率、逾期清单、指标进度、历史、任意日期的状态，导出 CSV/XLSX。数据库连接本身也是只读的。
- **协调人**（具名令牌 `coop op token issue 姓名`；`COOP_COORDINATOR_TOKEN` 只签发第一个）：
  计划协议，延期、暂停/恢复、重新打开、改派、豁免、取消任务，补录完成情况，生成部门链接；台账记录姓名。

部门负责人也可以不用令牌：通知中的签名链接（`/r/…` 报告一项任务，`/d/…` 查看本部门任务清单）
限时、单一用途，提交一次后失效。
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
    check_coordinator_token(settings)

    @app.exception_handler(CoopError)
    async def _user_error(_request: Request, exc: CoopError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=status_for(exc))

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        # Never echo the input (it may be megabytes, NaN or a lone surrogate): a Chinese message and field paths.
        return JSONResponse({"detail": validation_message(exc.errors())}, status_code=422)

    @app.exception_handler(IntegrityError)
    async def _conflict(_request: Request, _exc: IntegrityError) -> JSONResponse:
        # Two requests racing on the same unique row (e.g. one link submitted twice at once): one wins.
        return JSONResponse({"detail": "并发冲突，请刷新后重试 (conflicting concurrent request)"}, status_code=409)

    app.include_router(pages.router)
    app.include_router(department.router)
    app.include_router(audit.router)
    app.include_router(coordinator.router)
    app.include_router(operations.router)
    app.include_router(feeds.router)
    app.include_router(dashboard.router)
    # The vendored ECharts and the dashboard's script: served from the package, never from a CDN.
    app.mount("/static", StaticFiles(directory=Path(__file__).parent / "static"), name="static")

    def openapi() -> dict[str, Any]:
        # Validation errors are answered with one Chinese sentence (see `_invalid`), not FastAPI's echoing list.
        if app.openapi_schema is None:
            schema = FastAPI.openapi(app)
            schema.get("components", {}).get("schemas", {})["HTTPValidationError"] = {
                "title": "HTTPValidationError",
                "type": "object",
                "properties": {"detail": {"type": "string", "title": "Detail"}},
                "required": ["detail"],
            }
        return app.openapi_schema or FastAPI.openapi(app)

    app.openapi = openapi  # type: ignore[method-assign]

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    app.add_middleware(SecurityHeaders)
    app.add_middleware(SingleValuedQuery)
    app.add_middleware(
        BodyLimit, upload_limit=settings.max_upload_bytes * MAX_FILES + FORM_OVERHEAD, json_limit=MAX_JSON_BYTES
    )
    install_access_log_redaction()
    return app


_ERROR_LABELS = {
    "missing": "缺少此项",
    "extra_forbidden": "不允许的字段",
    "int_type": "应为整数",
    "int_parsing": "应为整数",
    "int_from_float": "应为整数",
    "float_type": "应为数字",
    "float_parsing": "应为数字",
    "finite_number": "应为有限的数字",
    "bool_type": "应为 true / false",
    "bool_parsing": "应为 true / false",
    "string_type": "应为文本",
    "string_too_short": "太短",
    "string_too_long": "太长",
    "string_pattern_mismatch": "格式不正确",
    "list_type": "应为列表",
    "dict_type": "应为对象",
    "model_type": "应为对象",
    "model_attributes_type": "应为对象",
    "too_short": "太短或项数太少",
    "too_long": "太长或项数太多",
    "literal_error": "不是允许的取值",
    "enum": "不是允许的取值",
    "greater_than": "太小",
    "greater_than_equal": "太小",
    "less_than": "太大",
    "less_than_equal": "太大",
    "date_parsing": "应为日期 YYYY-MM-DD",
    "date_from_datetime_parsing": "应为日期 YYYY-MM-DD",
    "date_type": "应为日期 YYYY-MM-DD",
    "json_invalid": "不是有效的 JSON",
    "json_type": "不是有效的 JSON",
    "value_error": "取值不正确",
}
_MAX_ERRORS = 10
_MAX_PATH = 80


def _path_part(part: Any) -> str:
    """One element of a field path; a dict key typed by the client is escaped and shortened, never echoed raw."""
    if isinstance(part, int):
        return str(part)
    text = json.dumps(str(part), ensure_ascii=True)[1:-1]
    return text if len(text) <= 40 else text[:40] + "…"


def validation_message(errors: Any) -> str:
    """`请求内容不符合要求：body.participants 应为整数；…` — field paths and what is wrong, no input values."""
    parts = []
    for error in list(errors)[:_MAX_ERRORS]:
        loc = ".".join(_path_part(p) for p in error.get("loc", ()))[:_MAX_PATH] or "请求"
        parts.append(f"{loc} {_ERROR_LABELS.get(str(error.get('type')), '格式不正确')}")
    more = len(list(errors)) - _MAX_ERRORS
    suffix = f"；另有 {more} 处" if more > 0 else ""
    return f"请求内容不符合要求：{'；'.join(parts)}{suffix} (invalid request)"


class BodyLimit:
    """Caps request bodies before anything parses them or checks a token.

    A multipart form to an upload route (`UPLOAD_ROUTES`) may carry `upload_limit` bytes; any other body at most
    `json_limit`, read into memory only up to that bound. A JSON body is then parsed strictly once here, so that
    duplicate keys, NaN/Infinity, numbers too large for a float and unpaired surrogates get a Chinese 400 before
    any route sees them (Python's json accepts all four). Over the limit: 413 by Content-Length up front, or as
    soon as a chunked body passes it; the body is never echoed. A declared body of at most `DRAIN_BYTES` is read
    and dropped before the 413 (for at most `DRAIN_SECONDS`): closing a connection with unread bytes makes the
    kernel send a reset, which can destroy the answer before the client has read it. A larger or undeclared
    (chunked) body, or one whose client waits for `100 Continue`, is cut off at once.
    """

    def __init__(self, app: ASGIApp, upload_limit: int, json_limit: int) -> None:
        self.app = app
        self.upload_limit = upload_limit
        self.json_limit = json_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        content_type = headers.get(b"content-type", b"").decode("latin-1").lower()
        multipart = content_type.startswith("multipart/form-data") and bool(UPLOAD_ROUTES.match(scope.get("path", "")))
        limit = self.upload_limit if multipart else self.json_limit
        declared = headers.get(b"content-length")
        waits_to_send = headers.get(b"expect", b"").lower() == b"100-continue"
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            if not waits_to_send and declared.isdigit() and int(declared) <= DRAIN_BYTES:
                await _drain(receive)
            await _too_large(send, limit)
            return
        if multipart:
            await self.app(scope, _counting(receive, limit), send)
            return
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, _replay(b"", receive, message), send)
                return
            body += message.get("body", b"")
            if len(body) > limit:
                await _too_large(send, limit)
                return
            if not message.get("more_body", False):
                break
        if body and _is_json(content_type):
            problem = strict_json_problem(bytes(body))
            if problem is not None:
                await _refuse(send, 400, problem)
                return
        await self.app(scope, _replay(bytes(body), receive), send)


def _counting(receive: Receive, limit: int) -> Receive:
    received = 0

    async def limited() -> Message:
        nonlocal received
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                raise HTTPException(413, _too_large_text(limit))
        return message

    return limited


async def _drain(receive: Receive) -> None:
    """Read and drop a refused body (its size declared and bounded by the caller) for at most `DRAIN_SECONDS`."""
    with anyio.move_on_after(DRAIN_SECONDS):
        while True:
            message = await receive()
            if message["type"] != "http.request" or not message.get("more_body", False):
                return


def _replay(body: bytes, receive: Receive, first: Message | None = None) -> Receive:
    """The buffered body as one message, then the client's own messages (a disconnect)."""
    pending: list[Message] = [first] if first is not None else [{"type": "http.request", "body": body}]

    async def replayed() -> Message:
        if pending:
            return pending.pop()
        return await receive()

    return replayed


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip()
    return media == "application/json" or media.endswith("+json")


class _JsonProblem(ValueError):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise _JsonProblem(f"JSON 中的键重复：{_path_part(key)} (duplicate key)")
        seen[key] = value
    return seen


def _no_constant(_name: str) -> Any:
    raise _JsonProblem("JSON 不允许 NaN / Infinity，数值必须是有限的数字 (non-finite number)")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _JsonProblem("数值超出范围，必须是有限的数字 (number out of range)")
    return value


def _has_lone_surrogate(value: Any) -> bool:
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return True
        return False
    if isinstance(value, dict):
        return any(_has_lone_surrogate(k) or _has_lone_surrogate(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_lone_surrogate(v) for v in value)
    return False


def strict_json_problem(body: bytes) -> str | None:
    """Why `body` is not acceptable JSON (in Chinese, without quoting it), or None when it is."""
    try:
        value = json.loads(
            body, object_pairs_hook=_no_duplicates, parse_constant=_no_constant, parse_float=_finite_float
        )
    except _JsonProblem as exc:
        return str(exc)
    except (ValueError, RecursionError):
        # Starlette's parser would refuse it too; FastAPI's handler gives the field path (json_invalid).
        return None
    if _has_lone_surrogate(value):
        return "文本含有不成对的代理字符（无效的 Unicode） (unpaired surrogate in text)"
    return None


def _too_large_text(limit: int) -> str:
    size = f"{limit // (1024 * 1024)} MB" if limit >= 1024 * 1024 else f"{limit // 1024} KB"
    return f"请求过大，超过 {size} 上限 (request body too large)"


async def _too_large(send: Send, limit: int) -> None:
    await _refuse(send, 413, _too_large_text(limit), close=True)


async def _refuse(send: Send, status: int, detail: str, *, close: bool = False) -> None:
    body = json.dumps({"detail": detail}, ensure_ascii=False).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


_LINK_PATH = re.compile(r"(/(?:r|d|ical)/)[^/?#\s\"]+")
_TOKEN_QUERY = re.compile(r"((?:^|[?&])(?:token|t|link)=)[^&#\s\"]+", re.IGNORECASE)


def redact_path(text: str) -> str:
    """A request line with the link token (`/r/<token>`, `/d/<token>`, `/ical/<token>.ics`, `?token=`) as ****."""
    return _TOKEN_QUERY.sub(r"\1****", _LINK_PATH.sub(r"\1****", text))


class RedactLinkTokens(logging.Filter):
    """Keeps link tokens out of uvicorn's access log: whoever reads the log must not be able to report."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(redact_path(a) if isinstance(a, str) else a for a in record.args)
        if isinstance(record.msg, str):
            record.msg = redact_path(record.msg)
        return True


def install_access_log_redaction() -> None:
    """Add the filter to uvicorn's access logger once (its handlers are configured after the app is created)."""
    logger = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, RedactLinkTokens) for f in logger.filters):
        logger.addFilter(RedactLinkTokens())


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
