"""Channel names → apprise URLs, and which protocol a URL speaks.

A department row stores channel *names* (``yubei-swd-wecom``), never URLs, so the database
and the ledger hold no credentials. The URL lives in ``COOP_CHANNEL_<NAME>`` or, failing
that, in a Prefect Secret block ``coop-channel-<name>``.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import apprise

from coop.errors import ChannelInvalid, ChannelNotConfigured
from coop.notify.channels import dingtalk, feishu, wecom
from coop.notify.channels.file import SCHEMA as FILE_SCHEMA
from coop.notify.channels.redaction import ENV_PREFIX, describe, redact, remember_secret, schema_of
from coop.notify.channels.robot import RobotKind, RobotProtocol, RobotTarget, parse_target, pieces

ChannelKind = Literal["email", "wecom", "dingtalk", "feishu", "webhook", "other"]

BLOCK_PREFIX = "coop-channel-"
ROBOTS: dict[RobotKind, RobotProtocol] = {p.kind: p for p in (wecom.PROTOCOL, dingtalk.PROTOCOL, feishu.PROTOCOL)}
ROBOT_SCHEMAS: dict[str, RobotKind] = {schema: p.kind for p in ROBOTS.values() for schema in p.schemas}
ROBOT_KINDS: frozenset[str] = frozenset(ROBOTS)
DEFAULT_BASES: dict[RobotKind, str] = {kind: p.default_base for kind, p in ROBOTS.items()}
MESSAGE_LIMITS: dict[RobotKind, int] = {kind: p.message_limit for kind, p in ROBOTS.items()}

_KINDS: dict[str, ChannelKind] = {
    "mailto": "email",
    "mailtos": "email",
    **ROBOT_SCHEMAS,
    "wecombot": "wecom",
    "dingtalk": "dingtalk",
    "feishu": "feishu",
    "lark": "feishu",
    "json": "webhook",
    "jsons": "webhook",
    "form": "webhook",
    "forms": "webhook",
    "xml": "webhook",
    "xmls": "webhook",
}
WEBHOOK_SCHEMAS = frozenset(s for s, k in _KINDS.items() if k == "webhook")

# What a channel's name says it is (`yubei-swd-email`), and a URL of that kind to show when it is not configured.
_EXAMPLES: tuple[tuple[tuple[str, ...], str], ...] = (
    (("email", "mail", "smtp"), "mailto://USER:PASSWORD@smtp.example.gov.cn?to=NAME@example.gov.cn"),
    (("wecom", "wechat", "weixin"), "coop-wecom://KEY"),
    (("dingtalk", "ding"), "coop-dingtalk://ACCESS_TOKEN/SECRET"),
    (("feishu", "lark"), "coop-feishu://HOOK_TOKEN/SECRET"),
    (("webhook", "hook", "json"), "json://HOST/PATH"),
)
_LOG = logging.getLogger("coop.notify")

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
_BLOCK_NAME_RE = re.compile(r"^[a-z0-9-]+$")


@dataclass(frozen=True)
class Channel:
    """A resolved channel. `repr` never shows the URL, so it is safe as a Prefect task parameter."""

    name: str
    url: str = field(repr=False)
    kind: ChannelKind
    source: Literal["env", "prefect", "inbox"]

    def __str__(self) -> str:
        return f"{self.name} ({self.kind}: {describe(self.url)})"


def channel_env_var(name: str) -> str:
    """`yubei-swd-wecom` → `COOP_CHANNEL_YUBEI_SWD_WECOM`."""
    return ENV_PREFIX + re.sub(r"[^A-Z0-9]", "_", name.upper())


def channel_block_name(name: str) -> str | None:
    """Prefect block document name for a channel, or None when the name cannot be one."""
    block = BLOCK_PREFIX + name.lower()
    return block if _BLOCK_NAME_RE.match(block) else None


def channel_kind(url: str) -> ChannelKind:
    """What sort of destination a URL reaches; decides message format and delivery path."""
    return _KINDS.get(schema_of(url), "other")


def robot_protocol(url: str) -> RobotProtocol | None:
    """The coop robot protocol a URL speaks (`coop-wecom://`, `coopwecom://` …), or None."""
    kind = ROBOT_SCHEMAS.get(schema_of(url))
    return None if kind is None else ROBOTS[kind]


def parse_robot_url(url: str) -> RobotTarget:
    """`coop-dingtalk://TOKEN/SECRET?base=…` → RobotTarget; ValueError names what is wrong."""
    protocol = robot_protocol(url)
    if protocol is None:
        raise ValueError(f"not a coop robot URL: schema {schema_of(url) or '(none)'}://")
    return parse_target(url, protocol)


def request_count(url: str, title: str, body: str, start: int = 0) -> int:
    """How many requests delivering this message takes: a robot gets a body too long for it in numbered parts.

    `start`: parts already accepted by an earlier attempt, which are not sent again.
    """
    protocol = robot_protocol(url)
    if protocol is None:
        return 1
    try:
        parse_target(url, protocol)
    except ValueError:
        return 1
    return max(1, len(pieces(protocol, title, body)) - start)


def parts_for(kind: str, title: str, body: str) -> int:
    """How many posts a message takes on a channel of this kind (robots cut long bodies; others take one)."""
    protocol = next((p for p in ROBOTS.values() if p.kind == kind), None)
    return 1 if protocol is None else len(pieces(protocol, title, body))


def configured_kind(name: str) -> ChannelKind | None:
    """The kind of a channel name as configured now, or None when it is not (delivery will say why)."""
    try:
        return resolve_channel(name).kind
    except (ChannelInvalid, ChannelNotConfigured):
        return None


def example_url(name: str) -> str:
    """An example URL of the kind the channel's name announces: `…-email` gets `mailto://…`, not a robot's."""
    words = re.split(r"[-_.]", name.lower())
    for hints, example in _EXAMPLES:
        if any(word in hints for word in words):
            return example
    return "coop-wecom://KEY 或 mailto://USER:PASSWORD@smtp.example.gov.cn?to=NAME@example.gov.cn"


def resolve_channel(
    name: str, env: Mapping[str, str] | None = None, *, prefect: bool | None = None, inbox: Path | None = None
) -> Channel:
    """Look a channel up: environment first, then a Prefect Secret block; with `inbox`, a local file last.

    `prefect=None` consults Prefect only when `PREFECT_API_URL` is set, because an ephemeral
    Prefect server costs seconds to start and holds no operator-configured blocks. `inbox` (unless
    COOP_REQUIRE_CHANNELS=1) sends an unconfigured channel to `<inbox>/<name>.md`, with a warning, instead of
    failing.
    """
    if not _NAME_RE.match(name):
        raise ChannelInvalid(f"通知渠道名称 {name!r} 无效：只能使用字母、数字、- _ . (invalid channel name {name!r})")
    env = os.environ if env is None else env
    env_var = channel_env_var(name)
    block = channel_block_name(name)
    url = (env.get(env_var) or "").strip()
    source: Literal["env", "prefect"] = "env"
    if not url and block and _should_ask_prefect(env, prefect):
        url = _load_block(block) or ""
        source = "prefect"
    if not url and inbox is not None:
        return _local_inbox(name, env_var, inbox)
    if not url:
        raise ChannelNotConfigured(name, env_var, block, example_url(name))
    kind = channel_kind(url)
    _validate(name, url, env_var if source == "env" else f"Prefect Secret {block}")
    return Channel(name=name, url=url, kind=kind, source=source)


def _local_inbox(name: str, env_var: str, inbox: Path) -> Channel:
    path = (inbox / f"{name}.md").resolve()
    # A dispatch run resolves each channel once (Deliverer.channel), so this warns once per channel per run.
    _LOG.warning(
        "通知渠道 %r 未配置（%s），消息改写入本地收件箱 %s。正式使用请设置该变量，例如 %s；"
        "设置 COOP_REQUIRE_CHANNELS=1 则未配置的渠道不再写入本地，直接进入死信。"
        " (channel %r is not configured: writing to the local inbox)",
        name,
        env_var,
        path,
        example_url(name),
        name,
    )
    return Channel(name=name, url=f"{FILE_SCHEMA}://{path}", kind="other", source="inbox")


def _should_ask_prefect(env: Mapping[str, str], prefect: bool | None) -> bool:
    if prefect is not None:
        return prefect
    return bool(env.get("PREFECT_API_URL") or os.environ.get("PREFECT_API_URL"))


def _load_block(block: str) -> str | None:
    """Read a Secret block; any failure (no server, no block, bad value) just means "not there"."""
    try:
        # Lazy: importing Prefect's block machinery costs about a second, and only channels missing
        # from the environment on a host with a Prefect server ever get here.
        from prefect.blocks.system import Secret

        # `_sync=True`: Block.load returns a coroutine when called inside a running event loop. Prefect's
        # sync/async dispatch is invisible to its type hints, hence the untyped handle.
        load: Any = Secret.load
        value = load(block, _sync=True).get()
    except Exception:  # noqa: BLE001 - Prefect raises many unrelated types when the API is absent
        return None
    if not isinstance(value, str) or not value.strip():
        return None
    url = value.strip()
    remember_secret(url)
    return url


def _validate(name: str, url: str, origin: str) -> None:
    """Fail at resolution, not at send time, when a URL can never work."""
    if schema_of(url) in ROBOT_SCHEMAS:
        try:
            parse_robot_url(url)
        except ValueError as exc:
            raise ChannelInvalid(
                f"通知渠道 {name!r}（{origin}）的 URL 无效 (invalid URL): {redact(str(exc))}"
            ) from None
        return
    if apprise.Apprise.instantiate(url) is None:
        raise ChannelInvalid(f"通知渠道 {name!r}（{origin}）的 URL 无法识别 (apprise cannot load {describe(url)})")
