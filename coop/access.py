"""Who may do what: signed single-purpose department links, API bearer tokens, and the three roles.

A link carries (purpose, department, occurrence, nonce, expiry) under an HMAC signature; the nonce is
stored when the link is acted on, so a replayed link is refused. Tokens are random and stored hashed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Literal

from itsdangerous import BadSignature, URLSafeSerializer

from coop.errors import CoopError
from coop.settings import Settings

TOKEN_PREFIX = "coop_"
_SALT = "coop.link.v1"


class Role(StrEnum):
    department = "department"
    auditor = "auditor"
    coordinator = "coordinator"


LinkPurpose = Literal["report", "list"]
_PURPOSE_CODES: dict[str, LinkPurpose] = {"r": "report", "l": "list"}
_CODES = {v: k for k, v in _PURPOSE_CODES.items()}


class LinkError(CoopError):
    """A department link that cannot be used; `status` is the HTTP answer."""

    status = 403


class LinkInvalid(LinkError):
    status = 404

    def __init__(self) -> None:
        super().__init__("链接无效，请使用通知中的完整链接 (invalid link)")


class LinkExpired(LinkError):
    status = 410

    def __init__(self, expired_at: dt.datetime) -> None:
        local = expired_at.astimezone(dt.timezone(dt.timedelta(hours=8)))
        super().__init__(f"链接已于 {local:%Y-%m-%d %H:%M} 过期，请联系协调人获取新链接 (link expired)")


class LinkUsed(LinkError):
    status = 410

    def __init__(self) -> None:
        super().__init__("此链接已使用过，不能重复提交；如需补充，请使用提交后页面上的新链接 (link already used)")


class LinkWrongPurpose(LinkError):
    status = 403

    def __init__(self, purpose: str) -> None:
        super().__init__(f"此链接只能用于“{_PURPOSE_LABELS.get(purpose, purpose)}” (link is for another purpose)")


_PURPOSE_LABELS = {"report": "报告一项任务的完成情况", "list": "查看本部门任务清单"}


@dataclass(frozen=True)
class LinkClaims:
    """What a verified link allows: one purpose, one department, at most one occurrence, until `expires_at`."""

    purpose: LinkPurpose
    department_id: int
    occurrence_id: int | None
    nonce: str
    expires_at: dt.datetime


@dataclass(frozen=True)
class Principal:
    """The caller of an API request, after authentication."""

    role: Role
    label: str
    department_id: int | None = None
    token_id: int | None = None

    @property
    def actor(self) -> str:
        """How the ledger names this caller."""
        if self.token_id is None:
            return str(self.role)
        return f"{self.label}（令牌 #{self.token_id}）"


class LinkSigner:
    """Issues and reads department links; any change to a signed link makes it invalid."""

    def __init__(self, secret: str) -> None:
        self._serializer = URLSafeSerializer(secret, salt=_SALT, signer_kwargs={"digest_method": hashlib.sha256})

    def issue(
        self,
        purpose: LinkPurpose,
        department_id: int,
        occurrence_id: int | None = None,
        ttl: dt.timedelta = dt.timedelta(days=7),
        now: dt.datetime | None = None,
    ) -> str:
        if purpose == "report" and occurrence_id is None:
            raise ValueError("a report link names exactly one occurrence")
        expires = (now or dt.datetime.now(dt.UTC)) + ttl
        claims = {"p": _CODES[purpose], "d": department_id, "n": secrets.token_hex(8), "e": int(expires.timestamp())}
        if occurrence_id is not None:
            claims["o"] = occurrence_id
        return str(self._serializer.dumps(claims))

    def read(self, token: str, purpose: LinkPurpose, now: dt.datetime | None = None) -> LinkClaims:
        """Verify signature, purpose and expiry; whether it was already used is the store's business."""
        try:
            raw = self._serializer.loads(token)
            claims = LinkClaims(
                purpose=_PURPOSE_CODES[raw["p"]],
                department_id=int(raw["d"]),
                occurrence_id=int(raw["o"]) if "o" in raw else None,
                nonce=str(raw["n"]),
                expires_at=dt.datetime.fromtimestamp(int(raw["e"]), dt.UTC),
            )
        except (BadSignature, KeyError, TypeError, ValueError, OverflowError):
            raise LinkInvalid() from None
        if claims.purpose != purpose:
            raise LinkWrongPurpose(claims.purpose)
        if (now or dt.datetime.now(dt.UTC)) >= claims.expires_at:
            raise LinkExpired(claims.expires_at)
        return claims


def secret_key(settings: Settings) -> str:
    """COOP_SECRET_KEY, or a random key created once in `secret_key_file` so `coop demo` and `coop serve` agree."""
    if settings.secret_key is not None:
        value = settings.secret_key.get_secret_value()
        if len(value) < 16:
            raise CoopError("COOP_SECRET_KEY 太短，至少 16 个字符 (COOP_SECRET_KEY must be at least 16 characters)")
        return value
    path = Path(settings.secret_key_file)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text(encoding="ascii").strip()
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        key = secrets.token_urlsafe(48)
        handle.write(key)
    return key


def signer(settings: Settings) -> LinkSigner:
    return LinkSigner(secret_key(settings))


def report_url(settings: Settings, occurrence_id: int, department_id: int, now: dt.datetime | None = None) -> str:
    """The link a notification carries: one occurrence, one report, valid for `link_ttl_hours`."""
    token = signer(settings).issue(
        "report", department_id, occurrence_id, dt.timedelta(hours=settings.link_ttl_hours), now
    )
    return f"{settings.public_base_url.rstrip('/')}/r/{token}"


def list_url(settings: Settings, department_id: int, now: dt.datetime | None = None) -> str:
    """A link to one department's list of open occurrences (read-only; each item gets its own report link)."""
    token = signer(settings).issue("list", department_id, None, dt.timedelta(hours=settings.link_ttl_hours), now)
    return f"{settings.public_base_url.rstrip('/')}/d/{token}"


def link_for(settings: Settings) -> Callable[[int, int], str]:
    """`(occurrence_id, department_id) -> report URL`, the shape the notification digest expects."""
    key_signer = signer(settings)
    ttl = dt.timedelta(hours=settings.link_ttl_hours)
    base = settings.public_base_url.rstrip("/")

    def make(occurrence_id: int, department_id: int) -> str:
        return f"{base}/r/{key_signer.issue('report', department_id, occurrence_id, ttl)}"

    return make


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def is_coordinator_token(presented: str, settings: Settings) -> bool:
    """Constant-time comparison with COOP_COORDINATOR_TOKEN; with none configured nobody is coordinator."""
    if settings.coordinator_token is None:
        return False
    expected = settings.coordinator_token.get_secret_value()
    return bool(expected) and hmac.compare_digest(presented.encode(), expected.encode())
