"""Ledger verification and signed checkpoints — what `coop audit verify / checkpoint / keygen`, the auditor API and
the `audit-report` / `checkpoint-ledger` flows call.

`verify_ledger` recomputes the hash chain, replays every event to rebuild each occurrence's status and every report
(the inputs of the rates) and compares them with the tables, and checks the chain against every signed checkpoint
(from the file outside the database and from the table). `checkpoint` signs the current head with
COOP_LEDGER_KEY_FILE and writes it to the file, the auditors' channel and the table.
"""

from __future__ import annotations

import fcntl
import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlmodel import Session

from coop import checkpoint as signing
from coop.checkpoint import Checkpoint
from coop.errors import CoopError
from coop.notify.channels import deliver, resolve_channel
from coop.services.audit import auditor_session
from coop.settings import Settings
from coop.store import checkpoints as checkpoint_store
from coop.store import ledger as ledger_store
from coop.store import verification as rows
from coop.verification import (
    CheckpointCheck,
    Differences,
    Found,
    LedgerAudit,
    Replay,
    check_checkpoints,
    compare_occurrence,
    compare_report,
    missing_occurrences,
    missing_reports,
)
from models.db import session_scope
from models.tables import utcnow

FILE, TABLE = "文件", "表"


# ---------------------------------------------------------------- keys


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise CoopError(f"无法读取{what} {path}：{exc.strerror} (cannot read {path})") from None


def private_key(settings: Settings) -> Ed25519PrivateKey:
    """The checkpoint signing key; a CoopError says how to configure it."""
    if settings.ledger_key_file is None:
        raise CoopError(
            "未配置台账签名密钥：请设置 COOP_LEDGER_KEY_FILE（可用 coop audit keygen 生成） "
            "(no ledger signing key configured)"
        )
    return signing.private_key_from_pem(_read(settings.ledger_key_file, "台账签名私钥"), str(settings.ledger_key_file))


def public_key(settings: Settings) -> Ed25519PublicKey | None:
    """The key checkpoints are checked with: COOP_LEDGER_PUBLIC_KEY_FILE, else the private key's public half."""
    if settings.ledger_public_key_file is not None:
        path = settings.ledger_public_key_file
        return signing.public_key_from_pem(_read(path, "台账公钥"), str(path))
    if settings.ledger_key_file is not None:
        return private_key(settings).public_key()
    return None


@dataclass(frozen=True)
class KeyFiles:
    private: Path
    public: Path
    key_id: str


def keygen(path: Path) -> KeyFiles:
    """A new Ed25519 key at `path` (mode 0600, never overwritten) and its public half at `<path>.pub`."""
    public_path = path.with_name(path.name + ".pub")
    for target in (path, public_path):
        if target.exists():
            raise CoopError(f"{target} 已存在，不会覆盖（旧检查点要靠它核对） (refusing to overwrite {target})")
    pem = signing.new_private_key_pem()
    key = signing.private_key_from_pem(pem, str(path))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
        os.chmod(path, 0o600)  # whatever the umask
        public_path.write_bytes(signing.public_key_pem(key))
    except OSError as exc:
        raise CoopError(f"无法写入密钥文件 {path}：{exc.strerror} (cannot write the key)") from None
    return KeyFiles(path, public_path, signing.key_id(key.public_key()))


# ---------------------------------------------------------------- the checkpoint file


def read_file(path: Path | None) -> tuple[list[Checkpoint], list[str]]:
    """The checkpoints in the file outside the database, and a problem per unreadable line; none if unset."""
    if path is None or not path.exists():
        return [], []
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return [], [f"无法读取检查点文件 {path}：{exc}"]
    return signing.parse_lines(text, str(path))


def _append(path: Path, checkpoint: Checkpoint) -> None:
    """One line per checkpoint, appended under a lock and flushed to disk before the table row is written."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        with os.fdopen(fd, "a", encoding="utf-8") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            handle.write(checkpoint.to_json() + "\n")
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as exc:
        raise CoopError(f"无法写入检查点文件 {path}：{exc.strerror}；未签署 (cannot append the checkpoint)") from None


# ---------------------------------------------------------------- verify


def _found(
    in_file: list[Checkpoint], in_table: list[Checkpoint], key: Ed25519PublicKey | None, file_configured: bool
) -> tuple[list[Found], list[str], list[str]]:
    """Checkpoints from both places, once each, with (problems, notes) about one place lacking what the other has."""
    places: dict[Checkpoint, list[str]] = {}
    for cp in in_file:
        places.setdefault(cp, []).append(FILE)
    for cp in in_table:
        places.setdefault(cp, []).append(TABLE)
    problems: list[str] = []
    notes: list[str] = []
    for cp, where in places.items():
        if file_configured and where == [FILE]:
            problems.append(f"检查点（事件 #{cp.event_id}，{cp.at[:19]}）在文件中有，表中缺失（检查点表被删改）")
        if file_configured and where == [TABLE]:
            notes.append(f"检查点（事件 #{cp.event_id}，{cp.at[:19]}）只在表中，文件中没有")
    found = [
        Found(cp, tuple(dict.fromkeys(where)), None if key is None else signing.signature_valid(key, cp))
        for cp, where in places.items()
    ]
    return found, problems, notes


def _compare_tables(session: Session, replay: Replay, tz: ZoneInfo) -> Differences:
    diff = Differences()
    rank: Counter[str] = Counter()
    seen: set[int] = set()
    for row in rows.occurrences(session):
        seen.add(row.id)
        facts = replay.occurrences.get(row.id)
        if facts is None or not facts.opened:  # plans create rows in id order; an opened row is not a plan's
            rank[row.agreement_id] += 1
        compare_occurrence(facts, row, rank[row.agreement_id], replay.created[row.agreement_id], diff, tz)
    missing_occurrences(replay.occurrences, seen, diff)
    cited: set[int] = set()
    for row in rows.reports(session):
        # A second row cannot claim the same event: it is a report the ledger never recorded.
        report = None if row.event_id in cited else replay.reports.get(row.event_id)
        cited.add(row.event_id)
        compare_report(report, row, diff)
    missing_reports(replay.reports.values(), cited, diff)
    return diff


def verify_ledger(settings: Settings, database_url: str | None = None, *, tables: bool = True) -> LedgerAudit:
    """The whole verification on the auditor's read-only login; `tables=False` checks only chain and checkpoints."""
    key = public_key(settings)
    in_file, file_problems = read_file(settings.checkpoint_file)
    with auditor_session(settings, database_url) as session:
        found, place_problems, place_notes = _found(
            in_file, checkpoint_store.stored(session), key, settings.checkpoint_file is not None
        )
        replay = Replay(wanted=frozenset(f.checkpoint.event_id for f in found))
        chain = ledger_store.verify(session, on_batch=replay.feed)
        head_id, head_hash = ledger_store.stored_head(session)
        diff = _compare_tables(session, replay, ZoneInfo(settings.timezone)) if tables else Differences()
    checked: CheckpointCheck = check_checkpoints(found, replay.hashes, replay.last_id, key is not None)
    checked.problems[:0] = file_problems + place_problems
    checked.notes += place_notes
    if settings.checkpoint_file is None and (found or key is not None):
        checked.notes.append("未配置检查点文件（COOP_CHECKPOINT_FILE），只核对了表中的检查点")
    return LedgerAudit(
        events=chain.events,
        head_id=head_id,
        head_hash=head_hash,
        head_matches=chain.head_matches,
        first_break=chain.first_break,
        differences=diff,
        checkpoints=checked,
        tables_checked=tables,
    )


# ---------------------------------------------------------------- checkpoint


@dataclass(frozen=True)
class CheckpointResult:
    checkpoint: Checkpoint
    row_id: int
    file: Path | None
    delivered: str | None


def _message(checkpoint: Checkpoint) -> tuple[str, str]:
    title = f"台账签名检查点：事件 #{checkpoint.event_id}"
    body = "\n".join(
        [
            f"- 台账头：事件 #{checkpoint.event_id}",
            f"- 哈希：`{checkpoint.hash}`",
            f"- 签署时间（UTC）：{checkpoint.at}",
            f"- 密钥：{checkpoint.key_id}",
            "",
            "请保存下面这一行；审计时 `coop audit verify` 据此核对台账是否被改写：",
            "",
            f"`{checkpoint.to_json()}`",
        ]
    )
    return title, body


def _send(settings: Settings, checkpoint: Checkpoint) -> str | None:
    """To the auditors' channel, if one is configured; the answer is kept with the checkpoint, never raised."""
    if not settings.auditor_channel:
        return None
    try:
        channel = resolve_channel(settings.auditor_channel)
    except CoopError as exc:
        return f"未送达：{exc}"[:500]
    title, body = _message(checkpoint)
    result = deliver(channel.url, title, body, timeout=settings.notify_timeout_seconds)
    return (f"已送达 {channel.name}" if result.ok else f"未送达 {channel.name}：{result.detail}")[:500]


def checkpoint(settings: Settings, actor: str, database_url: str | None = None) -> CheckpointResult:
    """Sign the current head if the chain and every earlier checkpoint still hold; file, channel, then table."""
    key = private_key(settings)
    audit = verify_ledger(settings, database_url, tables=False)
    if not audit.chain_ok or audit.untrusted_from is not None:
        where = audit.untrusted_from or (audit.first_break.event_id if audit.first_break else audit.head_id)
        raise CoopError(
            f"台账校验未通过（自事件 #{where} 起不可信），拒绝签署检查点；请先运行 coop audit verify 查明 "
            "(the ledger does not verify; refusing to sign it)"
        )
    if audit.head_id == 0:
        raise CoopError("台账为空，没有可签署的事件 (the ledger is empty)")
    signed = signing.sign(key, audit.head_id, audit.head_hash, utcnow())
    if settings.checkpoint_file is not None:
        _append(settings.checkpoint_file, signed)
    delivered = _send(settings, signed)
    with session_scope(database_url or settings.database_url) as session:
        row_id = checkpoint_store.add(session, signed, actor, delivered)
    return CheckpointResult(signed, row_id, settings.checkpoint_file, delivered)
