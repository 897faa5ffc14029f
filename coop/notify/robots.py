"""Delivery to WeCom / DingTalk / Feishu group robots and, through apprise, everything else.

Robots answer HTTP 200 even when they refuse a message (`errcode != 0`), so we speak their
protocols directly to see the refusal, its code and any Retry-After, and register the same
code as apprise schemas so `apprise` users get it too.

Apprise schemas may not contain `-`, so the apprise-registered names are `coopwecom://`,
`coopdingtalk://`, `coopfeishu://`; `deliver` accepts both those and `coop-wecom://` etc.

URL forms (`?base=` points the robot at another host, e.g. a local test sink)::

    coop-wecom://KEY[?base=http://127.0.0.1:PORT]
    coop-dingtalk://ACCESS_TOKEN[/SECRET][?base=...]
    coop-feishu://HOOK_TOKEN[/SECRET][?base=...]
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Literal
from urllib.parse import parse_qs, quote, unquote, urlsplit

import apprise
import httpx
from apprise.decorators import notify as apprise_notify
from apprise.manager_plugins import NotificationManager

from coop.notify.channels import redact, schema_of

RobotKind = Literal["wecom", "dingtalk", "feishu"]

DEFAULT_BASES: dict[RobotKind, str] = {
    "wecom": "https://qyapi.weixin.qq.com",
    "dingtalk": "https://oapi.dingtalk.com",
    "feishu": "https://open.feishu.cn",
}
ROBOT_SCHEMAS: dict[str, RobotKind] = {
    "coop-wecom": "wecom",
    "coopwecom": "wecom",
    "coop-dingtalk": "dingtalk",
    "coopdingtalk": "dingtalk",
    "coop-feishu": "feishu",
    "coopfeishu": "feishu",
}
# Per-message size caps (UTF-8 bytes): WeCom markdown content is 4096; DingTalk and Feishu
# reject bodies around 20 KB, so those stay well below to leave room for the JSON around them.
MESSAGE_LIMITS: dict[RobotKind, int] = {"wecom": 4096, "dingtalk": 18000, "feishu": 18000}
_FRAMING_BYTES = 48  # "**…**\n\n", "### …\n\n" and the "（12/34）" part counter around a title
# Codes meaning "this robot is misconfigured": retrying with the same URL cannot succeed.
PERMANENT_CODES: dict[RobotKind, frozenset[int]] = {
    "wecom": frozenset({93000}),  # invalid webhook url (key revoked or wrong)
    "dingtalk": frozenset({300001, 310000, 400102}),  # token unknown; sign/keyword/IP check; robot disabled
    "feishu": frozenset({9499, 19001, 19021, 19022, 19024}),  # bad request; token invalid; sign; IP; keyword
}
# Rate-limit codes: each robot allows about 20 messages a minute, so wait a minute.
RATE_LIMIT_CODES: dict[RobotKind, frozenset[int]] = {
    "wecom": frozenset({45009}),
    "dingtalk": frozenset({130101}),
    "feishu": frozenset({11232}),
}
RATE_LIMIT_WAIT = 60.0
# Sent with every message: a crash between delivery and bookkeeping may resend, and receivers that
# honour the key (our webhooks, the test sinks) drop the repeat. WeCom/DingTalk/Feishu ignore it.
IDEMPOTENCY_HEADER = "X-Coop-Message-Key"


@dataclass(frozen=True)
class DeliveryResult:
    """Outcome of one delivery; `retryable` tells the outbox whether trying again can help."""

    ok: bool
    retryable: bool
    status: int | None
    detail: str
    retry_after: float | None = None


@dataclass(frozen=True)
class RobotTarget:
    """A parsed robot URL. `repr` hides credentials."""

    kind: RobotKind
    token: str
    secret: str | None
    base: str

    def __repr__(self) -> str:
        return f"RobotTarget(kind={self.kind!r}, base={self.base!r}, signed={self.secret is not None})"


def parse_robot_url(url: str) -> RobotTarget:
    """`coop-dingtalk://TOKEN/SECRET?base=…` → RobotTarget; ValueError names what is wrong."""
    scheme = schema_of(url)
    kind = ROBOT_SCHEMAS.get(scheme)
    if kind is None:
        raise ValueError(f"not a coop robot URL: schema {scheme or '(none)'}://")
    split = urlsplit(url.strip())
    parts = [unquote(p) for p in [split.netloc, *split.path.split("/")] if p]
    if not parts:
        raise ValueError(f"{scheme}:// needs a {'key' if kind == 'wecom' else 'token'}, e.g. {scheme}://TOKEN")
    if len(parts) > (1 if kind == "wecom" else 2):
        raise ValueError(f"{scheme}:// takes {'KEY' if kind == 'wecom' else 'TOKEN[/SECRET]'}, got extra path segments")
    query = parse_qs(split.query)
    base = (query.get("base") or [DEFAULT_BASES[kind]])[0].rstrip("/")
    if urlsplit(base).scheme not in ("http", "https") or not urlsplit(base).netloc:
        raise ValueError(f"{scheme}:// base must be an http(s) URL, got {base!r}")
    secret = parts[1] if len(parts) > 1 else None
    return RobotTarget(kind=kind, token=parts[0], secret=secret, base=base)


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """DingTalk 加签: base64(HMAC-SHA256(key=secret, msg=f"{timestamp}\\n{secret}"))."""
    digest = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def feishu_sign(secret: str, timestamp_s: int) -> str:
    """Feishu 签名校验: base64(HMAC-SHA256(key=f"{timestamp}\\n{secret}", msg=b""))."""
    digest = hmac.new(f"{timestamp_s}\n{secret}".encode(), b"", hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


@dataclass(frozen=True)
class RobotRequest:
    """One robot HTTP call: POST `url?params` with JSON `payload`."""

    url: str
    params: dict[str, str]
    payload: dict[str, Any]


def build_request(target: RobotTarget, title: str, body: str, now: float | None = None) -> RobotRequest:
    """The HTTP request each robot expects for a markdown message."""
    now = time.time() if now is None else now
    if target.kind == "wecom":
        content = f"**{title}**\n\n{body}" if title else body
        return RobotRequest(
            url=f"{target.base}/cgi-bin/webhook/send",
            params={"key": target.token},
            payload={"msgtype": "markdown", "markdown": {"content": content}},
        )
    if target.kind == "dingtalk":
        params = {"access_token": target.token}
        if target.secret:
            ts = int(now * 1000)
            params |= {"timestamp": str(ts), "sign": dingtalk_sign(target.secret, ts)}
        # markdown.title is only the notification preview, so the title is repeated as a heading.
        text = f"### {title}\n\n{body}" if title else body
        return RobotRequest(
            url=f"{target.base}/robot/send",
            params=params,
            payload={"msgtype": "markdown", "markdown": {"title": title or body[:30], "text": text}},
        )
    payload: dict[str, Any] = {
        "msg_type": "interactive",
        "card": {
            "config": {"wide_screen_mode": True},
            "header": {"title": {"tag": "plain_text", "content": title or "协作通"}},
            "elements": [{"tag": "markdown", "content": body}],
        },
    }
    if target.secret:
        ts = int(now)
        payload = {"timestamp": str(ts), "sign": feishu_sign(target.secret, ts), **payload}
    return RobotRequest(url=f"{target.base}/open-apis/bot/v2/hook/{target.token}", params={}, payload=payload)


def split_body(body: str, limit: int) -> list[str]:
    """Cut a long markdown body at line breaks into pieces of at most `limit` UTF-8 bytes."""
    if len(body.encode()) <= limit:
        return [body]
    pieces: list[str] = []
    current = ""
    for line in body.splitlines(keepends=True):
        while len(line.encode()) > limit:  # one giant line: hard-cut it
            cut = line.encode()[:limit].decode(errors="ignore")
            if current:
                pieces.append(current)
                current = ""
            pieces.append(cut)
            line = line[len(cut) :]
        if len((current + line).encode()) > limit:
            pieces.append(current)
            current = ""
        current += line
    if current.strip():
        pieces.append(current)
    return pieces


def _pieces(kind: RobotKind, title: str, body: str) -> list[tuple[str, str]]:
    """(title, body) per message; a body too long for the robot becomes numbered parts."""
    room = max(256, MESSAGE_LIMITS[kind] - len(title.encode()) - _FRAMING_BYTES)
    pieces = split_body(body, room)
    if len(pieces) == 1:
        return [(title, pieces[0])]
    return [(f"{title}（{i}/{len(pieces)}）", p) for i, p in enumerate(pieces, 1)]


def request_count(url: str, title: str, body: str) -> int:
    """How many requests delivering this message takes: a robot gets a body too long for it in numbered parts."""
    if schema_of(url) not in ROBOT_SCHEMAS:
        return 1
    try:
        return len(_pieces(parse_robot_url(url).kind, title, body))
    except ValueError:
        return 1


def interpret(target: RobotTarget, response: httpx.Response) -> DeliveryResult:
    """Turn a robot's HTTP answer into a DeliveryResult, reading errcode/code from 200 bodies."""
    status = response.status_code
    retry_after = parse_retry_after(response.headers.get("Retry-After"))
    if status == 429 or status >= 500:
        return DeliveryResult(False, True, status, _detail(target, f"HTTP {status}", response.text), retry_after)
    if status >= 400:
        return DeliveryResult(False, False, status, _detail(target, f"HTTP {status}", response.text), retry_after)
    try:
        data = response.json()
    except ValueError:
        data = None
    if not isinstance(data, dict):
        # Outcome unknown: do not retry, a duplicate is worse than an operator looking at the log.
        return DeliveryResult(False, False, status, _detail(target, "unexpected response", response.text))
    code = _code(target.kind, data)
    message = str(data.get("errmsg") or data.get("msg") or data.get("StatusMessage") or "")
    if code == 0:
        return DeliveryResult(True, False, status, f"{target.kind} ok")
    if code is None:
        return DeliveryResult(False, False, status, _detail(target, "response without errcode", response.text))
    if code in RATE_LIMIT_CODES[target.kind]:
        retry_after = retry_after or RATE_LIMIT_WAIT
    retryable = code not in PERMANENT_CODES[target.kind]
    label = "code" if target.kind == "feishu" else "errcode"
    return DeliveryResult(False, retryable, status, _detail(target, f"{label} {code}", message), retry_after)


def _code(kind: RobotKind, data: dict[str, Any]) -> int | None:
    raw = data.get("code", data.get("StatusCode")) if kind == "feishu" else data.get("errcode")
    try:
        return int(raw) if raw is not None else None
    except (TypeError, ValueError):
        return None


def _detail(target: RobotTarget, what: str, text: str) -> str:
    extra = [target.token, target.secret or ""]
    return redact(f"{target.kind} {what}: {text.strip()[:300]}", extra)


def parse_retry_after(value: str | None) -> float | None:
    """Retry-After as seconds, from either delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _transport_failure(target: RobotTarget, exc: Exception) -> DeliveryResult:
    """Timeouts and refused connections are worth retrying; the message was not accepted."""
    what = "timeout" if isinstance(exc, httpx.TimeoutException | TimeoutError) else "connection failed"
    return DeliveryResult(False, True, None, _detail(target, what, f"{type(exc).__name__}: {exc}"))


def _send_robot(
    target: RobotTarget, title: str, body: str, timeout: float, client: httpx.Client | None
) -> DeliveryResult:
    pieces = _pieces(target.kind, title, body)
    owned = client is None
    client = client or httpx.Client(timeout=timeout)
    try:
        result = DeliveryResult(False, True, None, f"{target.kind}: nothing sent")
        for piece_title, piece in pieces:
            req = build_request(target, piece_title, piece)
            try:
                response = client.post(req.url, params=req.params, json=req.payload, timeout=timeout)
            except httpx.HTTPError as exc:
                return _transport_failure(target, exc)
            result = interpret(target, response)
            if not result.ok:
                return result
        return result
    finally:
        if owned:
            client.close()


async def _asend_robot(
    target: RobotTarget,
    title: str,
    body: str,
    timeout: float,
    client: httpx.AsyncClient | None,
    headers: dict[str, str] | None = None,
) -> DeliveryResult:
    pieces = _pieces(target.kind, title, body)
    owned = client is None
    client = client or httpx.AsyncClient(timeout=timeout)
    try:
        result = DeliveryResult(False, True, None, f"{target.kind}: nothing sent")
        for piece_title, piece in pieces:
            req = build_request(target, piece_title, piece)
            try:
                # httpx's timeout bounds each read, not the exchange: a server dribbling one byte at a
                # time (slow-loris) would hold the dispatcher forever without this outer deadline.
                async with asyncio.timeout(timeout):
                    response = await client.post(
                        req.url, params=req.params, json=req.payload, timeout=timeout, headers=headers
                    )
            except (httpx.HTTPError, TimeoutError) as exc:
                return _transport_failure(target, exc)
            result = interpret(target, response)
            if not result.ok:
                return result
        return result
    finally:
        if owned:
            await client.aclose()


def _send_apprise(url: str, title: str, body: str, timeout: float) -> DeliveryResult:
    """Anything not a coop robot: apprise decides success; its warnings become the detail."""
    notifier = apprise.Apprise()
    if not notifier.add(url):
        return DeliveryResult(False, False, None, redact(f"apprise cannot load URL {schema_of(url) or '?'}://…"))
    result = notifier.notify(body=body, title=title, body_format=apprise.NotifyFormat.MARKDOWN, timeout=timeout)
    if result:
        return DeliveryResult(True, False, None, "ok")
    lines = [
        entry.message
        for service in result
        for entry in service.logs()
        if entry.level in ("WARNING", "ERROR", "CRITICAL")
    ]
    detail = "; ".join(dict.fromkeys(lines)) or f"apprise {result.status.name.lower()}"
    # Apprise does not say *why* in a machine-readable way; most failures are transient.
    return DeliveryResult(False, True, None, redact(detail[:500]))


def deliver(
    url: str, title: str, body: str, timeout: float = 10, *, client: httpx.Client | None = None
) -> DeliveryResult:
    """Send one message (markdown body) to one channel URL; never raises for delivery problems."""
    if schema_of(url) in ROBOT_SCHEMAS:
        try:
            target = parse_robot_url(url)
        except ValueError as exc:
            return DeliveryResult(False, False, None, redact(str(exc)))
        return _send_robot(target, title, body, timeout, client)
    return _send_apprise(url, title, body, timeout)


async def adeliver(
    url: str,
    title: str,
    body: str,
    timeout: float = 10,
    *,
    client: httpx.AsyncClient | None = None,
    key: str | None = None,
) -> DeliveryResult:
    """`deliver` for event loops: robots over httpx.AsyncClient, others through apprise in a thread.

    Pass a shared `client` when sending many messages so connections are pooled.
    """
    if schema_of(url) in ROBOT_SCHEMAS:
        try:
            target = parse_robot_url(url)
        except ValueError as exc:
            return DeliveryResult(False, False, None, redact(str(exc)))
        headers = {IDEMPOTENCY_HEADER: key} if key else None
        return await _asend_robot(target, title, body, timeout, client, headers)
    return await asyncio.to_thread(_send_apprise, with_idempotency_key(url, key), title, body, timeout)


def with_idempotency_key(url: str, key: str | None) -> str:
    """Webhooks get the message key as a header (apprise `+Header=` syntax) so receivers can drop repeats."""
    if not key or schema_of(url) not in ("json", "jsons", "form", "forms", "xml", "xmls"):
        return url
    joiner = "&" if "?" in url else "?"
    return f"{url}{joiner}+{IDEMPOTENCY_HEADER}={quote(key, safe='')}"


def _apprise_hook(schema: str) -> Callable[..., bool]:
    """Build the apprise plugin body for one robot schema; apprise passes the parsed URL in `meta`."""

    def send(body: str, title: str, *args: Any, meta: dict[str, Any], **kwargs: Any) -> bool:
        result = deliver(meta["url"], title, body)
        if not result.ok:
            apprise.logger.warning("%s", result.detail)
        return result.ok

    send.__name__ = f"send_{schema}"
    return send


def _register_apprise_schemas() -> None:
    """Make `coopwecom://` etc. usable from plain apprise (CLI, config files, other code)."""
    plugins = NotificationManager()
    for schema, name in (
        ("coopwecom", "WeCom robot"),
        ("coopdingtalk", "DingTalk robot"),
        ("coopfeishu", "Feishu robot"),
    ):
        if schema not in plugins:  # module reloads must not re-register (apprise warns)
            apprise_notify(on=schema, name=f"coop {name}")(_apprise_hook(schema))


_register_apprise_schemas()
