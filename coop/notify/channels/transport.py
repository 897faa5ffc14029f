"""One message to one channel URL: coop robots over httpx, everything else through apprise.

One async path. `deliver` is the synchronous door to it, for callers without an event loop
(the CLI, apprise's own plugin hooks); it never raises for delivery problems.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar
from urllib.parse import quote

import apprise
import httpx
from apprise.decorators import notify as apprise_notify
from apprise.manager_plugins import NotificationManager

from coop.notify.channels import email, file
from coop.notify.channels.redaction import redact, schema_of
from coop.notify.channels.registry import ROBOTS, WEBHOOK_SCHEMAS, robot_protocol
from coop.notify.channels.robot import IDEMPOTENCY_HEADER, Turn, parse_target, send_robot
from coop.notify.results import DeliveryResult

T = TypeVar("T")
_NAMES = {"wecom": "WeCom", "dingtalk": "DingTalk", "feishu": "Feishu"}


async def adeliver(
    url: str,
    title: str,
    body: str,
    timeout: float = 10,
    *,
    client: httpx.AsyncClient | None = None,
    key: str | None = None,
    start: int = 0,
    turn: Turn | None = None,
    accepted: Callable[[int], Awaitable[bool]] | None = None,
) -> DeliveryResult:
    """Send one message (markdown body): robots over httpx.AsyncClient, others through apprise in a thread.

    Pass a shared `client` when sending many messages so connections are pooled; `key` identifies the
    message so receivers that honour it drop a repeat. A robot message too long for one post goes in
    numbered parts: `start` skips parts already accepted. With `turn`, every post goes out inside a turn
    (paced, on the client it lends; None: not sent), and `accepted(done)` is awaited after each robot part
    accepted (see `send_robot`).
    """
    protocol = robot_protocol(url)
    if protocol is not None:
        try:
            target = parse_target(url, protocol)
        except ValueError as exc:
            return DeliveryResult(False, False, None, redact(str(exc)))
        headers = {IDEMPOTENCY_HEADER: key} if key else None
        return await send_robot(
            protocol, target, title, body, timeout, client, headers, start=start, turn=turn, accepted=accepted
        )
    if turn is None:
        return await asyncio.to_thread(send_apprise, with_idempotency_key(url, key), title, body, timeout)
    async with turn() as lent:
        if lent is None:
            return DeliveryResult(False, True, None, "未发送，消息交回待发（not sent, handed back）")
        return await asyncio.to_thread(send_apprise, with_idempotency_key(url, key), title, body, timeout)


def deliver(url: str, title: str, body: str, timeout: float = 10) -> DeliveryResult:
    """`adeliver` for synchronous callers; never raises for delivery problems."""
    return run_sync(adeliver(url, title, body, timeout))


def run_sync(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion from synchronous code, even when this thread already runs a loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    # Called from inside an event loop (a Prefect async task, apprise's async notify): a loop of its own.
    found: list[T] = []
    failed: list[BaseException] = []

    def run() -> None:
        try:
            found.append(asyncio.run(coroutine))
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread below
            failed.append(exc)

    worker = threading.Thread(target=run, name="coop-deliver")
    worker.start()
    worker.join()
    if failed:
        raise failed[0]
    return found[0]


def send_apprise(url: str, title: str, body: str, timeout: float) -> DeliveryResult:
    """Anything not a coop robot: apprise decides success; its warnings become the detail."""
    notifier = apprise.Apprise()
    if not notifier.add(url):
        return DeliveryResult(False, False, None, redact(f"apprise cannot load URL {schema_of(url) or '?'}://…"))
    if schema_of(url) in email.SCHEMAS:
        result = notifier.notify(
            body=email.email_html(body), title=title, body_format=apprise.NotifyFormat.HTML, timeout=timeout
        )
    else:
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


def with_idempotency_key(url: str, key: str | None) -> str:
    """Webhooks get the message key as a header (apprise `+Header=` syntax) so receivers can drop repeats."""
    if not key or schema_of(url) not in WEBHOOK_SCHEMAS:
        return url
    joiner = "&" if "?" in url else "?"
    return f"{url}{joiner}+{IDEMPOTENCY_HEADER}={quote(key, safe='')}"


def _apprise_hook(schema: str) -> Callable[..., bool]:
    """The apprise plugin body for one robot schema; apprise passes the parsed URL in `meta`."""

    def send(body: str, title: str, *args: Any, meta: dict[str, Any], **kwargs: Any) -> bool:  # noqa: ARG001
        result = deliver(meta["url"], title, body)
        if not result.ok:
            apprise.logger.warning("%s", result.detail)
        return result.ok

    send.__name__ = f"send_{schema}"
    return send


def register_apprise_schemas() -> None:
    """Make `coopwecom://`, `coopdingtalk://`, `coopfeishu://` and `coopfile://` usable from plain apprise."""
    plugins = NotificationManager()
    for protocol in ROBOTS.values():
        schema = f"coop{protocol.kind}"  # apprise schemas may not contain `-`
        if schema not in plugins:  # module reloads must not re-register (apprise warns)
            apprise_notify(on=schema, name=f"coop {_NAMES[protocol.kind]} robot")(_apprise_hook(schema))
    file.register()


register_apprise_schemas()
