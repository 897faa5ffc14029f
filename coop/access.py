"""Who may do what: signed single-purpose department links, API bearer tokens, and the three roles.

A link carries (purpose, department, occurrence, nonce, expiry) under an HMAC signature; the nonce is
stored when the link is acted on, so a replayed link is refused. Tokens are random and stored hashed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import os
import secrets
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Literal

from itsdangerous import BadSignature, URLSafeSerializer
from itsdangerous.encoding import base64_encode

from coop.errors import CoopError, LinkExpired, LinkInvalid, LinkWrongPurpose
from coop.settings import Settings

TOKEN_PREFIX = "coop_"
_SALT = "coop.link.v1"
MIN_SHARED_TOKEN_LENGTH = 16


class Role(StrEnum):
    department = "department"
    auditor = "auditor"
    coordinator = "coordinator"
    # COOP_COORDINATOR_TOKEN: may only issue the first named coordinator token, nothing else.
    bootstrap = "bootstrap"


LinkPurpose = Literal["report", "list"]
_PURPOSE_CODES: dict[str, LinkPurpose] = {"r": "report", "l": "list"}
_CODES = {v: k for k, v in _PURPOSE_CODES.items()}


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
    person: str | None = None  # a named coordinator
    agreements: frozenset[str] = frozenset()  # a coordinator limited to these agreements; empty = all

    @property
    def actor(self) -> str:
        """How the ledger names this caller."""
        if self.token_id is None:
            return str(self.role)
        if self.person is not None:
            return coordinator_actor(self.person, self.token_id)
        return f"{self.label}（令牌 #{self.token_id}）"


def coordinator_actor(person: str, token_id: int) -> str:
    """The ledger's name for a named coordinator: the person, and the token that identifies them."""
    return f"{person}（协调人令牌 #{token_id}）"


@dataclass(frozen=True)
class FeedClaims:
    """What a verified calendar feed URL names: a feed scope (`department:<id>`, `agreement:<id>`) and its version."""

    scope: str
    version: int


# itsdangerous' URL-safe serializer writes JSON this way (`_CompactJSON`); `_token` must write the same bytes.
_COMPACT_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


class LinkSigner:
    """Issues and reads department links; any change to a signed link makes it invalid."""

    def __init__(self, secret: str) -> None:
        self._serializer = URLSafeSerializer(secret, salt=_SALT, signer_kwargs={"digest_method": hashlib.sha256})
        # The HMAC keyed once: itsdangerous builds a signer and derives its key again for every token, and a
        # province's daily digests carry ~34,000 report links (profiled in bench/).
        self._mac = hmac.new(self._serializer.make_signer().derive_key(), digestmod=hashlib.sha256)

    def _token(self, claims: dict[str, object]) -> str:
        """Exactly `self._serializer.dumps(claims)` (tests compare them), so links issued either way verify alike:
        compact JSON, zlib-compressed only when that is shorter, URL-safe base64, `.`, the HMAC-SHA256."""
        payload = _COMPACT_JSON.encode(claims).encode()
        compressed = zlib.compress(payload)
        body = b"." + base64_encode(compressed) if len(compressed) < len(payload) - 1 else base64_encode(payload)
        mac = self._mac.copy()
        mac.update(body)
        return (body + b"." + base64_encode(mac.digest())).decode()

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
        return self._token(claims)

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

    def issue_feed(self, scope: str, version: int) -> str:
        """A calendar feed token (purpose "ical"): no expiry, calendars poll for months; revoking bumps `version`."""
        return self._token({"p": "i", "s": scope, "v": version})

    def read_feed(self, token: str) -> FeedClaims:
        """Verify a feed token's signature and purpose; whether its version is current is the store's business."""
        try:
            raw = self._serializer.loads(token)
            if raw["p"] != "i":
                raise ValueError("not a feed token")
            return FeedClaims(str(raw["s"]), int(raw["v"]))
        except (BadSignature, KeyError, TypeError, ValueError, OverflowError):
            raise LinkInvalid() from None


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
    return _signer(secret_key(settings))


@lru_cache(maxsize=4)
def _signer(secret: str) -> LinkSigner:
    """One signer per key: `list_url` runs once per department in a daily run (4,000 at province scale)."""
    return LinkSigner(secret)


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


def check_coordinator_token(settings: Settings) -> None:
    """At start-up: a configured COOP_COORDINATOR_TOKEN shorter than the minimum is refused, not silently ignored."""
    if settings.coordinator_token is None:
        return
    if len(settings.coordinator_token.get_secret_value()) < MIN_SHARED_TOKEN_LENGTH:
        raise CoopError(
            f"COOP_COORDINATOR_TOKEN 太短，至少 {MIN_SHARED_TOKEN_LENGTH} 个字符；它只用于签发第一个具名协调人令牌 "
            f"(COOP_COORDINATOR_TOKEN must be at least {MIN_SHARED_TOKEN_LENGTH} characters)"
        )


def is_coordinator_token(presented: str, settings: Settings) -> bool:
    """Constant-time comparison with COOP_COORDINATOR_TOKEN (the bootstrap token); unset or too short = never."""
    if settings.coordinator_token is None:
        return False
    expected = settings.coordinator_token.get_secret_value()
    if len(expected) < MIN_SHARED_TOKEN_LENGTH:
        return False
    return hmac.compare_digest(presented.encode(), expected.encode())
