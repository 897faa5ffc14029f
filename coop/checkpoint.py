"""Signed ledger checkpoints: an Ed25519 signature over the ledger head (event id, hash, time).

The hash chain alone proves only that the rows agree with each other: whoever can write the database can rewrite
an event and recompute every later hash. A checkpoint is signed with a key the database does not hold
(`COOP_LEDGER_KEY_FILE`) and kept outside it too (a JSON-lines file, the auditors' channel), so a rewrite of any
event at or before a checkpoint no longer matches a signed hash. Pure: keys and checkpoints in, verdicts out.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from coop.errors import CoopError

# Signed text starts with this, so a coop checkpoint signature can never be replayed as anything else.
DOMAIN = "coop-ledger-checkpoint/v1"


@dataclass(frozen=True)
class Checkpoint:
    """The head of the ledger as a key holder saw and signed it."""

    event_id: int
    hash: str
    at: str  # ISO 8601 UTC with microseconds, exactly as signed
    key_id: str
    signature: str  # base64 of the 64-byte Ed25519 signature

    def to_json(self) -> str:
        """One JSON line: what the checkpoint file holds and the auditors' channel receives."""
        return json.dumps(
            {
                "event_id": self.event_id,
                "hash": self.hash,
                "at": self.at,
                "key_id": self.key_id,
                "signature": self.signature,
            },
            sort_keys=True,
            separators=(",", ":"),
        )

    @classmethod
    def from_dict(cls, data: Any) -> Checkpoint:
        """A checkpoint read back from a file line; ValueError names what is wrong."""
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        try:
            event_id, digest, at = data["event_id"], data["hash"], data["at"]
            key_id, signature = data["key_id"], data["signature"]
        except KeyError as exc:
            raise ValueError(f"missing field {exc.args[0]}") from None
        if isinstance(event_id, bool) or not isinstance(event_id, int) or event_id < 1:
            raise ValueError("event_id must be a positive integer")
        if not all(isinstance(v, str) for v in (digest, at, key_id, signature)):
            raise ValueError("hash, at, key_id and signature must be text")
        return cls(event_id, digest, at, key_id, signature)


def message(event_id: int, digest: str, at: str) -> bytes:
    """The exact bytes a checkpoint signs."""
    return "\x1f".join([DOMAIN, str(event_id), digest, at]).encode()


def stamp(moment: dt.datetime) -> str:
    """The signed form of a moment: UTC, microseconds, so it reads back to the same text."""
    return moment.astimezone(dt.UTC).isoformat(timespec="microseconds")


def key_id(public_key: Ed25519PublicKey) -> str:
    """A short name for a public key (first 16 hex digits of the SHA-256 of its raw bytes)."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def sign(private_key: Ed25519PrivateKey, event_id: int, digest: str, moment: dt.datetime) -> Checkpoint:
    """Sign the head (`event_id`, `digest`) as seen at `moment`."""
    at = stamp(moment)
    signature = private_key.sign(message(event_id, digest, at))
    return Checkpoint(event_id, digest, at, key_id(private_key.public_key()), base64.b64encode(signature).decode())


def signature_valid(public_key: Ed25519PublicKey, checkpoint: Checkpoint) -> bool:
    """True when `checkpoint` was signed by the private half of `public_key` and not changed since."""
    try:
        raw = base64.b64decode(checkpoint.signature, validate=True)
        public_key.verify(raw, message(checkpoint.event_id, checkpoint.hash, checkpoint.at))
    except (InvalidSignature, ValueError):
        return False
    return True


def new_private_key_pem() -> bytes:
    """A fresh Ed25519 private key as unencrypted PKCS#8 PEM (protect the file, not the PEM)."""
    return Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def public_key_pem(key: Ed25519PrivateKey | Ed25519PublicKey) -> bytes:
    """The public half as SubjectPublicKeyInfo PEM: what auditors keep to check checkpoints."""
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def private_key_from_pem(data: bytes, origin: str) -> Ed25519PrivateKey:
    """The signing key from PEM text; a CoopError names `origin` when it is not an Ed25519 private key."""
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise CoopError(f"{origin} 不是可用的私钥 PEM（{exc}） (not a PEM private key)") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise CoopError(f"{origin} 不是 Ed25519 私钥 (the ledger key must be Ed25519)")
    return key


def public_key_from_pem(data: bytes, origin: str) -> Ed25519PublicKey:
    """The checking key from PEM text: a public key, or the public half of a private key."""
    if b"PRIVATE KEY" in data:
        return private_key_from_pem(data, origin).public_key()
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError) as exc:
        raise CoopError(f"{origin} 不是可用的公钥 PEM（{exc}） (not a PEM public key)") from None
    if not isinstance(key, Ed25519PublicKey):
        raise CoopError(f"{origin} 不是 Ed25519 公钥 (the ledger key must be Ed25519)")
    return key


def parse_lines(text: str, origin: str) -> tuple[list[Checkpoint], list[str]]:
    """Checkpoints from a JSON-lines file, and one Chinese problem per unreadable line (with file:line)."""
    found: list[Checkpoint] = []
    problems: list[str] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            found.append(Checkpoint.from_dict(json.loads(line)))
        except ValueError as exc:
            problems.append(f"{origin}:{number}：检查点记录无法读取（{exc}）")
    return found, problems
