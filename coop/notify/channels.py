"""Channel names → apprise URLs, and keeping those URLs' secrets out of every log line.

A department row stores channel *names* (``yubei-swd-wecom``), never URLs, so the database
and the ledger hold no credentials. The URL lives in ``COOP_CHANNEL_<NAME>`` or, failing
that, in a Prefect Secret block ``coop-channel-<name>``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import parse_qsl, unquote, urlsplit

from coop.errors import CoopError

ChannelKind = Literal["email", "wecom", "dingtalk", "feishu", "webhook", "other"]

ENV_PREFIX = "COOP_CHANNEL_"
BLOCK_PREFIX = "coop-channel-"

_KINDS: dict[str, ChannelKind] = {
    "mailto": "email",
    "mailtos": "email",
    "coop-wecom": "wecom",
    "coopwecom": "wecom",
    "wecombot": "wecom",
    "coop-dingtalk": "dingtalk",
    "coopdingtalk": "dingtalk",
    "dingtalk": "dingtalk",
    "coop-feishu": "feishu",
    "coopfeishu": "feishu",
    "feishu": "feishu",
    "lark": "feishu",
    "json": "webhook",
    "jsons": "webhook",
    "form": "webhook",
    "forms": "webhook",
    "xml": "webhook",
    "xmls": "webhook",
}
# Schemas whose whole authority/path is a credential (robot key, token, secret).
_OPAQUE_SCHEMAS = frozenset(s for s, k in _KINDS.items() if k in ("wecom", "dingtalk", "feishu"))

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
_BLOCK_NAME_RE = re.compile(r"^[a-z0-9-]+$")
_SENSITIVE_PARAM = (
    r"(?:access_token|token|key|apikey|api_key|secret|sign|signature|password|passwd|pass|pwd|auth|webhook)"
)
_URL_RE = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]{1,31}://[^\s'\"<>`]+")
_PARAM_RE = re.compile(rf"(?i)\b({_SENSITIVE_PARAM})=([^&\s'\"<>`,;)]+)")
_USERINFO_RE = re.compile(r"(://[^/\s:@'\"]*):([^@/\s'\"]+)@")
# Long mixed letter+digit runs in a URL path are almost always keys or tokens (UUIDs, hex, SEC…).
_TOKENISH_RE = re.compile(r"(?<![A-Za-z0-9])(?=[A-Za-z0-9_-]*[0-9])(?=[A-Za-z0-9_-]*[A-Za-z])[A-Za-z0-9_-]{16,}")
_MIN_SECRET_LEN = 4
MASK = "****"

# Secrets resolved from Prefect blocks: not in the environment, but must still be redacted.
_resolved_secrets: set[str] = set()


class ChannelNotConfigured(CoopError):
    """No URL is configured for a channel name; the message names the variable to set."""

    def __init__(self, name: str, env_var: str, block: str | None):
        self.name, self.env_var, self.block = name, env_var, block
        where = f"环境变量 {env_var}" + (f" 或 Prefect Secret 块 {block}" if block else "")
        also = f" (or Prefect Secret block {block})" if block else ""
        super().__init__(
            f"通知渠道 {name!r} 未配置：请设置{where}，值为 apprise URL，例如 coop-wecom://KEY "
            f"(channel {name!r} is not configured: set {env_var}{also} to an apprise URL)"
        )


class ChannelInvalid(CoopError):
    """A channel name or its configured URL cannot be used; secrets are redacted from the message."""


@dataclass(frozen=True)
class Channel:
    """A resolved channel. `repr` never shows the URL, so it is safe as a Prefect task parameter."""

    name: str
    url: str = field(repr=False)
    kind: ChannelKind
    source: Literal["env", "prefect"]

    def __str__(self) -> str:
        return f"{self.name} ({self.kind}: {describe(self.url)})"


def channel_env_var(name: str) -> str:
    """`yubei-swd-wecom` → `COOP_CHANNEL_YUBEI_SWD_WECOM`."""
    return ENV_PREFIX + re.sub(r"[^A-Z0-9]", "_", name.upper())


def channel_block_name(name: str) -> str | None:
    """Prefect block document name for a channel, or None when the name cannot be one."""
    block = BLOCK_PREFIX + name.lower()
    return block if _BLOCK_NAME_RE.match(block) else None


def schema_of(url: str) -> str:
    """Lower-cased schema of a URL (`coop-wecom`), or '' when it has none."""
    head, sep, _ = url.strip().partition("://")
    return head.lower() if sep else ""


def channel_kind(url: str) -> ChannelKind:
    """What sort of destination a URL reaches; decides message format and delivery path."""
    return _KINDS.get(schema_of(url), "other")


def resolve_channel(name: str, env: Mapping[str, str] | None = None, *, prefect: bool | None = None) -> Channel:
    """Look a channel up: environment first, then a Prefect Secret block.

    `prefect=None` consults Prefect only when `PREFECT_API_URL` is set, because an ephemeral
    Prefect server costs seconds to start and holds no operator-configured blocks.
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
    if not url:
        raise ChannelNotConfigured(name, env_var, block)
    kind = channel_kind(url)
    _validate(name, url, env_var if source == "env" else f"Prefect Secret {block}")
    return Channel(name=name, url=url, kind=kind, source=source)


def _should_ask_prefect(env: Mapping[str, str], prefect: bool | None) -> bool:
    if prefect is not None:
        return prefect
    return bool(env.get("PREFECT_API_URL") or os.environ.get("PREFECT_API_URL"))


def _load_block(block: str) -> str | None:
    """Read a Secret block; any failure (no server, no block, bad value) just means "not there"."""
    try:
        from prefect.blocks.system import Secret

        # `_sync=True`: Block.load returns a coroutine when called inside a running event loop.
        value = Secret.load(block, _sync=True).get()
    except Exception:  # noqa: BLE001 - Prefect raises many unrelated types when the API is absent
        return None
    if not isinstance(value, str) or not value.strip():
        return None
    url = value.strip()
    _resolved_secrets.update(secret_parts(url))
    return url


def _validate(name: str, url: str, origin: str) -> None:
    """Fail at resolution, not at send time, when a URL can never work."""
    from coop.notify.robots import parse_robot_url

    if channel_kind(url) in ("wecom", "dingtalk", "feishu") and schema_of(url).startswith("coop"):
        try:
            parse_robot_url(url)
        except ValueError as exc:
            raise ChannelInvalid(
                f"通知渠道 {name!r}（{origin}）的 URL 无效 (invalid URL): {redact(str(exc))}"
            ) from None
        return
    import apprise

    if apprise.Apprise.instantiate(url) is None:
        raise ChannelInvalid(f"通知渠道 {name!r}（{origin}）的 URL 无法识别 (apprise cannot load {describe(url)})")


def configured_secrets(env: Mapping[str, str] | None = None) -> set[str]:
    """Every credential fragment of every configured channel, for exact-match redaction."""
    env = os.environ if env is None else env
    found = set(_resolved_secrets)
    for key, value in env.items():
        if key.startswith(ENV_PREFIX) and value.strip():
            found.update(secret_parts(value.strip()))
    return found


def secret_parts(url: str) -> set[str]:
    """The pieces of a channel URL that are credentials (password, tokens, sensitive params)."""
    parts = {url}
    try:
        split = urlsplit(url)
    except ValueError:
        return parts
    scheme = split.scheme.lower()
    if split.password:
        parts.add(split.password)
        parts.add(unquote(split.password))
    if scheme in _OPAQUE_SCHEMAS:
        netloc = split.netloc.rpartition("@")[2]
        userinfo = split.netloc.rpartition("@")[0]
        segments = [netloc, *userinfo.split(":"), *split.path.split("/")]
        parts.update(unquote(s) for s in segments if s)
    else:
        parts.update(unquote(s) for s in split.path.split("/") if _TOKENISH_RE.fullmatch(unquote(s)))
    for k, v in parse_qsl(split.query, keep_blank_values=False):
        if re.fullmatch(_SENSITIVE_PARAM, k, flags=re.I):
            parts.add(v)
    return {p for p in parts if len(p) >= _MIN_SECRET_LEN}


def describe(url: str) -> str:
    """A log-safe rendering of a channel URL, via apprise's `url(privacy=True)` where it can."""
    scheme = schema_of(url)
    if scheme in _OPAQUE_SCHEMAS:
        return f"{scheme}://{MASK}"
    try:
        import apprise

        plugin = apprise.Apprise.instantiate(url)
    except Exception:  # noqa: BLE001 - a malformed URL is described by the regex path below
        plugin = None
    if plugin is not None:
        return redact(plugin.url(privacy=True))
    return redact(url)


def redact(text: str, extra: Iterable[str] = ()) -> str:
    """Remove configured secrets and anything shaped like a credential from a log line or error."""
    if not text:
        return text
    secrets = configured_secrets() | {s for s in extra if s and len(s) >= _MIN_SECRET_LEN}
    # Longest first, so a whole URL goes before its password is replaced inside it.
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, MASK)
    text = _URL_RE.sub(lambda m: _redact_url(m.group(0)), text)
    return _PARAM_RE.sub(lambda m: f"{m.group(1)}={MASK}", text)


def _redact_url(url: str) -> str:
    scheme = schema_of(url)
    if scheme in _OPAQUE_SCHEMAS:
        rest = url.split("://", 1)[1]
        query = rest.partition("?")[2]
        return f"{scheme}://{MASK}" + (f"?{query}" if query else "")
    url = _USERINFO_RE.sub(rf"\1:{MASK}@", url)
    head, sep, tail = url.partition("://")
    return head + sep + _TOKENISH_RE.sub(MASK, tail)
