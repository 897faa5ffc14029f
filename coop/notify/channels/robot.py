"""What the three group robots (WeCom, DingTalk, Feishu) share: URL shape, splitting, and reading their answers.

Robots answer HTTP 200 even when they refuse a message (`errcode != 0`), and apprise's WeCom/DingTalk/
Feishu plugins do not look at that code, so we speak the protocols ourselves: only then do we see the
refusal, tell a revoked key (permanent) from a rate limit (wait a minute), and honour Retry-After.
Each protocol's own module (`wecom.py`, `dingtalk.py`, `feishu.py`) supplies a `RobotProtocol`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Literal
from urllib.parse import parse_qs, unquote, urlsplit

import httpx

from coop.notify.channels.redaction import redact, schema_of
from coop.notify.results import DeliveryResult

RobotKind = Literal["wecom", "dingtalk", "feishu"]

FRAMING_BYTES = 48  # "**…**\n\n", "### …\n\n" and the "（12/34）" part counter around a title
MIN_ROOM = 256  # bytes of body a post always holds, however long its title
RATE_LIMIT_WAIT = 60.0  # each robot allows about 20 messages a minute; after a refusal, wait a minute
# Sent with every message: a crash between delivery and bookkeeping may resend, and receivers that
# honour the key (our webhooks, the test sinks) drop the repeat. WeCom/DingTalk/Feishu ignore it.
IDEMPOTENCY_HEADER = "X-Coop-Message-Key"
Turn = Callable[[], contextlib.AbstractAsyncContextManager[httpx.AsyncClient | None]]
"""Lends a client for one request once that request may go out (paced, a slot free); None: do not send it."""


@dataclass(frozen=True)
class RobotTarget:
    """A parsed robot URL. `repr` hides credentials."""

    kind: RobotKind
    token: str
    secret: str | None
    base: str

    def __repr__(self) -> str:
        return f"RobotTarget(kind={self.kind!r}, base={self.base!r}, signed={self.secret is not None})"


@dataclass(frozen=True)
class RobotRequest:
    """One robot HTTP call: POST `url?params` with JSON `payload`."""

    url: str
    params: dict[str, str]
    payload: dict[str, Any]


@dataclass(frozen=True)
class RobotProtocol:
    """One robot platform: its URL schemas, limits, refusal codes and request shape."""

    kind: RobotKind
    schemas: tuple[str, ...]
    """`coop-<kind>` (what operators write) and `coop<kind>` (what apprise accepts: no `-` in its schemas)."""
    default_base: str
    message_limit: int
    """Per-message cap in UTF-8 bytes."""
    permanent_codes: frozenset[int]
    """Codes meaning "this robot is misconfigured": retrying with the same URL cannot succeed."""
    rate_limit_codes: frozenset[int]
    code_label: str
    takes_secret: bool
    build: Callable[[RobotTarget, str, str, float], RobotRequest]
    """(target, title, body, now) → the HTTP request for a markdown message."""
    code: Callable[[dict[str, Any]], object]
    """The raw result code in a 200 body."""


def parse_target(url: str, protocol: RobotProtocol) -> RobotTarget:
    """`coop-dingtalk://TOKEN/SECRET?base=…` → RobotTarget; ValueError names what is wrong."""
    scheme = schema_of(url)
    kind = protocol.kind
    split = urlsplit(url.strip())
    parts = [unquote(p) for p in [split.netloc, *split.path.split("/")] if p]
    if not parts:
        raise ValueError(f"{scheme}:// needs a {'token' if protocol.takes_secret else 'key'}, e.g. {scheme}://TOKEN")
    if len(parts) > (2 if protocol.takes_secret else 1):
        raise ValueError(
            f"{scheme}:// takes {'TOKEN[/SECRET]' if protocol.takes_secret else 'KEY'}, got extra path segments"
        )
    query = parse_qs(split.query)
    base = (query.get("base") or [protocol.default_base])[0].rstrip("/")
    if urlsplit(base).scheme not in ("http", "https") or not urlsplit(base).netloc:
        raise ValueError(f"{scheme}:// base must be an http(s) URL, got {base!r}")
    secret = parts[1] if len(parts) > 1 else None
    return RobotTarget(kind=kind, token=parts[0], secret=secret, base=base)


def split_body(body: str, limit: int) -> list[str]:
    """Cut a long markdown body at line breaks into pieces of at most `limit` UTF-8 bytes."""
    if len(body.encode()) <= limit:
        return [body]
    pieces: list[str] = []
    current = ""
    size = 0  # UTF-8 bytes of `current`, kept as lines are added (re-encoding it per line was quadratic)
    for line in body.splitlines(keepends=True):
        while len(line.encode()) > limit:  # one giant line: hard-cut it
            cut = line.encode()[:limit].decode(errors="ignore")
            if current:
                pieces.append(current)
                current, size = "", 0
            pieces.append(cut)
            line = line[len(cut) :]
        width = len(line.encode())
        if size + width > limit:
            pieces.append(current)
            current, size = "", 0
        current += line
        size += width
    if current.strip():
        pieces.append(current)
    return pieces


def pieces(protocol: RobotProtocol, title: str, body: str) -> list[tuple[str, str]]:
    """(title, body) per message; a body too long for the robot becomes numbered parts."""
    room = max(MIN_ROOM, protocol.message_limit - len(title.encode()) - FRAMING_BYTES)
    found = split_body(body, room)
    if len(found) == 1:
        return [(title, found[0])]
    return [(f"{title}（{i}/{len(found)}）", p) for i, p in enumerate(found, 1)]


def interpret(protocol: RobotProtocol, target: RobotTarget, response: httpx.Response) -> DeliveryResult:
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
    code = _as_int(protocol.code(data))
    message = str(data.get("errmsg") or data.get("msg") or data.get("StatusMessage") or "")
    if code == 0:
        return DeliveryResult(True, False, status, f"{target.kind} ok")
    if code is None:
        return DeliveryResult(False, False, status, _detail(target, "response without errcode", response.text))
    if code in protocol.rate_limit_codes:
        retry_after = retry_after or RATE_LIMIT_WAIT
    retryable = code not in protocol.permanent_codes
    return DeliveryResult(
        False, retryable, status, _detail(target, f"{protocol.code_label} {code}", message), retry_after
    )


def _as_int(raw: object) -> int | None:
    if not isinstance(raw, int | float | str):
        return None
    try:
        return int(raw)
    except ValueError:
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


async def send_robot(
    protocol: RobotProtocol,
    target: RobotTarget,
    title: str,
    body: str,
    timeout: float,
    client: httpx.AsyncClient | None,
    headers: dict[str, str] | None = None,
    *,
    start: int = 0,
    turn: Turn | None = None,
    accepted: Callable[[int], Awaitable[bool]] | None = None,
) -> DeliveryResult:
    """Post the parts of one message in order, from part `start` (0-based) on; stop at the first refusal.

    With `turn`, each part is posted inside `async with turn() as client`: the caller paces the parts and lends
    a client for one post at a time, so a long message holds no connection while it waits between its parts;
    a turn yielding None stops the message there. `accepted(done)` is awaited after each part the robot
    accepts, outside the turn, with the number of parts done so far (earlier attempts included); when it
    answers False (the message is no longer ours to send) no further part goes out. The result's `parts` says
    how many this call got accepted.
    """
    found = pieces(protocol, title, body)
    total = len(found)
    if start >= total:  # an earlier attempt got every part accepted, only its bookkeeping was lost
        return DeliveryResult(True, False, None, f"{target.kind} ok", first_part=start, total_parts=total)
    owned = client is None and turn is None
    own = httpx.AsyncClient(timeout=timeout) if owned else None
    done = 0
    try:
        result = DeliveryResult(False, True, None, f"{target.kind}: nothing sent")
        for piece_title, piece in found[start:]:
            async with turn() if turn is not None else contextlib.nullcontext(client or own) as lent:
                if lent is None:
                    return DeliveryResult(
                        False,
                        True,
                        None,
                        f"{target.kind}: 停止发送其余部分，消息交回待发（stopped before the next part）",
                        parts=done,
                        first_part=start,
                        total_parts=total,
                    )
                req = protocol.build(target, piece_title, piece, time.time())
                try:
                    # httpx's timeout bounds each read, not the exchange: a server dribbling one byte at a
                    # time (slow-loris) would hold the dispatcher forever without this outer deadline.
                    async with asyncio.timeout(timeout):
                        response = await lent.post(
                            req.url, params=req.params, json=req.payload, timeout=timeout, headers=headers
                        )
                except (httpx.HTTPError, TimeoutError) as exc:
                    return replace(_transport_failure(target, exc), parts=done, first_part=start, total_parts=total)
            result = interpret(protocol, target, response)
            if not result.ok:
                return replace(result, parts=done, first_part=start, total_parts=total)
            done += 1
            if accepted is not None and not await accepted(start + done) and start + done < total:
                return DeliveryResult(
                    False,
                    True,
                    None,
                    f"{target.kind}: 消息已由其他投递进程接手，停止发送其余部分（message taken over, stopped）",
                    parts=done,
                    first_part=start,
                    total_parts=total,
                )
        return replace(result, parts=done, first_part=start, total_parts=total)
    finally:
        if own is not None:
            await own.aclose()
