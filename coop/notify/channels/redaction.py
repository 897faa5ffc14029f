"""Keeping channel credentials out of every log line, error and artifact.

Two layers: exact replacement of every configured secret (environment and Prefect blocks), then
patterns for anything shaped like a credential (URL passwords, token parameters, robot keys).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from urllib.parse import parse_qsl, unquote, urlsplit

import apprise

ENV_PREFIX = "COOP_CHANNEL_"
MASK = "****"
# Schemas whose whole authority/path is a credential (robot key, token, secret).
OPAQUE_SCHEMAS = frozenset(
    {"coop-wecom", "coopwecom", "wecombot", "coop-dingtalk", "coopdingtalk", "dingtalk"}
    | {"coop-feishu", "coopfeishu", "feishu", "lark"}
)

_SENSITIVE_PARAM = (
    r"(?:access_token|token|key|apikey|api_key|secret|sign|signature|password|passwd|pass|pwd|auth|webhook)"
)
_URL_RE = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]{1,31}://[^\s'\"<>`]+")
_PARAM_RE = re.compile(rf"(?i)\b({_SENSITIVE_PARAM})=([^&\s'\"<>`,;)]+)")
_USERINFO_RE = re.compile(r"(://[^/\s:@'\"]*):([^@/\s'\"]+)@")
# Long mixed letter+digit runs in a URL path are almost always keys or tokens (UUIDs, hex, SEC…).
_TOKENISH_RE = re.compile(r"(?<![A-Za-z0-9])(?=[A-Za-z0-9_-]*[0-9])(?=[A-Za-z0-9_-]*[A-Za-z])[A-Za-z0-9_-]{16,}")
_MIN_SECRET_LEN = 4

# Secrets resolved from Prefect blocks: not in the environment, but must still be redacted.
_resolved_secrets: set[str] = set()


def schema_of(url: str) -> str:
    """Lower-cased schema of a URL (`coop-wecom`), or '' when it has none."""
    head, sep, _ = url.strip().partition("://")
    return head.lower() if sep else ""


def remember_secret(url: str) -> None:
    """A channel URL found outside the environment (a Prefect block): redact its parts from now on."""
    _resolved_secrets.update(secret_parts(url))


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
    if scheme in OPAQUE_SCHEMAS:
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
    if scheme in OPAQUE_SCHEMAS:
        return f"{scheme}://{MASK}"
    try:
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
    if scheme in OPAQUE_SCHEMAS:
        rest = url.split("://", 1)[1]
        query = rest.partition("?")[2]
        return f"{scheme}://{MASK}" + (f"?{query}" if query else "")
    url = _USERINFO_RE.sub(rf"\1:{MASK}@", url)
    head, sep, tail = url.partition("://")
    return head + sep + _TOKENISH_RE.sub(MASK, tail)
