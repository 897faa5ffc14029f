"""Issue 13, finding 1: `coop audit verify` can no longer be fooled.

(a) a table changed behind the application's back is named against the ledger (and the rates are said to be
untrustworthy); (b) rewriting an event and recomputing every later hash and `ledger_head` is caught by a signed
checkpoint kept outside the database, which names the first event that can no longer be trusted; (c) on
PostgreSQL `ledger_head` only moves forward (migration 0009). SQLite and PostgreSQL throughout.
"""

from __future__ import annotations

import datetime as dt
import json
import stat
from pathlib import Path

import pytest
from conftest import FIXTURES
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError
from typer.testing import CliRunner

from coop import checkpoint
from coop.cli import app
from coop.errors import CoopError
from coop.ledger import event_hash
from coop.report import CompletionReport
from coop.services import operations, verification
from coop.services.backfill import record_completion_on
from coop.services.coordinators import Coordinator, coordinator_named, issue_coordinator_token
from coop.services.planning import plan_agreement
from coop.services.reports import record_report
from coop.services.sweep import sweep_statuses
from coop.settings import Settings, get_settings
from models.db import get_engine, session_scope
from models.tables import LedgerEvent

PLAN_DAY = dt.date(2026, 3, 1)
YUBEI = "渝北区/区委社会工作部"
TUANQUWEI = "渝北区/团区委"
SMALL = (FIXTURES / "small.yaml").read_text(encoding="utf-8")


def _settings(url: str, **extra: object) -> Settings:
    return Settings(database_url=url, secret_key="test-secret-key-for-links-0123456789", **extra)  # type: ignore[arg-type]


def _ids(url: str) -> dict[str, int]:
    with session_scope(url) as s:
        return {key: oid for oid, key in s.execute(text("SELECT id, key FROM occurrence"))}


def _write(url: str, sql: str, params: dict[str, object] | None = None) -> None:
    """Change the database behind the application's back, as someone with the database password would."""
    with get_engine(url).begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("SET LOCAL session_replication_role = replica")  # a superuser switching triggers off
        conn.execute(text(sql), params or {})


@pytest.fixture
def history(db_env: str, tmp_path: Path) -> dict[str, int]:
    """Every kind of event that moves an occurrence or writes a report: plan, sweeps, reports, a backfill, each
    coordinator operation, and an amendment that re-plans open rows."""
    url = db_env
    settings = _settings(url)
    plan_agreement(url, FIXTURES / "small.yaml", PLAN_DAY, "测试", settings=settings)
    ids = _ids(url)
    issue_coordinator_token(url, "张协调", None)
    chief: Coordinator = coordinator_named(url, "张协调")
    sweep_statuses(url, dt.date(2026, 4, 2), "测试")  # 1.1@2026-03-31 is overdue now
    record_report(url, CompletionReport(ids["1.1@2026-06-30"], YUBEI, "partial", participants=20), YUBEI)
    record_report(
        url,
        CompletionReport(ids["1.1@2026-06-30"], YUBEI, "done", participants=45, metrics={"participants": 45}),
        YUBEI,
    )
    operations.extend(url, chief, ids["1.1@2026-03-31"], dt.date(2026, 4, 30), "场地改造", dt.date(2026, 4, 2))
    operations.suspend(url, chief, ids["1.1@2026-09-30"], "汛期暂停", dt.date(2026, 4, 2))
    operations.resume(url, chief, ids["1.1@2026-09-30"], "汛期结束", dt.date(2026, 4, 12))
    operations.reassign(url, chief, ids["1.1@2026-12-31"], TUANQUWEI, "团区委牵头")
    operations.waive(url, chief, ids["1.2@2025-10-01/广安市"], "并入市级活动")
    operations.reopen(url, chief, ids["1.1@2026-06-30"], "佐证不全", dt.date(2026, 4, 12))
    record_completion_on(
        url,
        chief,
        ids["1.2@2025-10-01/长寿区"],
        "长寿区/区委社会工作部",
        dt.date(2025, 10, 8),
        participants=12,
        today=dt.date(2026, 4, 12),
    )
    # The amendment moves the rotation's hosts (same keys: re-planned) and clause 6.1's dates (cancelled, created).
    amended = SMALL.replace("rotate: [渝北区, 长寿区, 广安市]", "rotate: [长寿区, 广安市, 渝北区]").replace(
        "BYMONTHDAY=10", "BYMONTHDAY=15"
    )
    amended += 'amended:\n  - {date: 2026-05-01, ref: "第1号修订", note: 测试}\n'
    path = tmp_path / "small.yaml"
    path.write_text(amended, encoding="utf-8")
    plan_agreement(url, path, dt.date(2026, 5, 1), "测试", settings=settings)
    sweep_statuses(url, dt.date(2026, 7, 1), "测试")
    with session_scope(url) as s:
        kinds = set(s.execute(text("SELECT DISTINCT kind FROM ledger_event")).scalars())
    assert {
        "occurrence_replanned",
        "occurrence_cancelled",
        "occurrence_done",
        "occurrence_progress",
        "occurrence_extended",
        "occurrence_resumed",
        "occurrence_reassigned",
        "occurrence_waived",
        "occurrence_reopened",
        "sweep_overdue",
    } <= kinds, kinds
    return ids


def _report_more(url: str) -> None:
    """One more report on an open task of 渝北区/区委社会工作部: new events after a checkpoint."""
    with session_scope(url) as s:
        oid = s.execute(
            text(
                "SELECT o.id FROM occurrence o JOIN department d ON d.id = o.department_id"
                " JOIN agency a ON a.id = d.agency_id WHERE a.name = '渝北区' AND d.name = '区委社会工作部'"
                " AND o.status IN ('planned', 'due', 'overdue') ORDER BY o.id LIMIT 1"
            )
        ).scalar_one()
    record_report(url, CompletionReport(oid, YUBEI, "partial", participants=5), YUBEI)


def _verify() -> tuple[int, str]:
    result = CliRunner().invoke(app, ["audit", "verify"])
    return result.exit_code, result.output


def _head(url: str) -> tuple[int, str]:
    with session_scope(url) as s:
        last_id, last_hash = s.execute(text("SELECT last_id, last_hash FROM ledger_head WHERE id = 1")).one()
    return int(last_id), str(last_hash)


# ---------------------------------------------------------------- (a) the tables against the ledger


def test_a_faithful_history_verifies_and_shows_the_head(history: dict[str, int], db_env: str) -> None:
    code, out = _verify()
    head_id, head_hash = _head(db_env)
    assert code == 0, out
    assert f"台账完整：{head_id} 条事件" in out and f"台账头：事件 #{head_id} · {head_hash}" in out
    assert "表与台账一致：" in out and "✗" not in out


def test_a_status_set_behind_the_apps_back_is_named_and_the_rates_are_not_trusted(
    history: dict[str, int], db_env: str
) -> None:
    overdue = history["1.2@2025-10-01/渝北区"]
    with session_scope(db_env) as s:
        assert s.execute(text("SELECT status FROM occurrence WHERE id = :i"), {"i": overdue}).scalar_one() == "overdue"
    _write(db_env, "UPDATE occurrence SET status = 'done' WHERE id = :i", {"i": overdue})
    code, out = _verify()
    assert code == 1, out
    assert f"任务 #{overdue}：台账显示 已逾期，表中为 已完成" in out, out
    assert "台账完整" in out  # the chain itself is intact: it is the table that lies
    assert "coop audit rates" in out and "统计结果不可信" in out
    # The rates do count the forged completion, which is exactly why verify must say so.
    rates = CliRunner().invoke(app, ["audit", "rates"])
    assert rates.exit_code == 0, rates.output


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("UPDATE report SET participants = 450 WHERE participants = 45", "台账显示 参与人数 45，表中为 450"),
        ("UPDATE report SET note = '补记' WHERE participants = 20", "台账显示 说明 无，表中为 补记"),
        ("DELETE FROM report WHERE participants = 12", "台账中有，表中缺失"),
        (
            "INSERT INTO report (occurrence_id, department_id, outcome, participants, metrics, evidence, event_id, at)"
            " SELECT occurrence_id, department_id, 'done', 99, '{}', '[]', 999999, at FROM report LIMIT 1",
            "台账中没有对应的报告事件 #999999",
        ),
        ("UPDATE occurrence SET due_date = '2026-12-31' WHERE key = '1.1@2026-03-31'", "台账显示 截止日期 2026-04-30"),
    ],
)
def test_reports_and_due_dates_changed_behind_the_apps_back_are_named(
    history: dict[str, int], db_env: str, sql: str, expected: str
) -> None:
    _write(db_env, sql)
    code, out = _verify()
    assert code == 1 and expected in out, out


def test_an_occurrence_no_plan_created_is_named(history: dict[str, int], db_env: str) -> None:
    _write(
        db_env,
        "INSERT INTO occurrence (agreement_id, clause_id, key, nominal_date, due_date, window_start, department_id,"
        " status, provisional, targets, version, updated_at)"
        " SELECT agreement_id, clause_id, 'forged', nominal_date, due_date, window_start, department_id, 'done',"
        " provisional, targets, version, updated_at FROM occurrence ORDER BY id LIMIT 1",
    )
    with session_scope(db_env) as s:
        forged = s.execute(text("SELECT id FROM occurrence WHERE key = 'forged'")).scalar_one()
    code, out = _verify()
    assert code == 1 and f"任务 #{forged}：台账中没有创建它的计划记录" in out, out


# ---------------------------------------------------------------- (b) signed checkpoints


@pytest.fixture
def signing(db_env: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A signing key (made by `coop audit keygen`), a checkpoint file and an auditors' channel (a local inbox)."""
    key = tmp_path / "keys" / "ledger.pem"
    made = CliRunner().invoke(app, ["audit", "keygen", str(key)])
    assert made.exit_code == 0, made.output
    monkeypatch.setenv("COOP_LEDGER_KEY_FILE", str(key))
    monkeypatch.setenv("COOP_CHECKPOINT_FILE", str(tmp_path / "outside" / "checkpoints.jsonl"))
    monkeypatch.setenv("COOP_AUDITOR_CHANNEL", "auditors")
    monkeypatch.setenv("COOP_CHANNEL_AUDITORS", f"coopfile://{tmp_path / 'auditors.md'}")
    get_settings.cache_clear()
    return tmp_path


def _checkpoint() -> str:
    result = CliRunner().invoke(app, ["audit", "checkpoint"])
    assert result.exit_code == 0, result.output
    return result.output


def test_keygen_writes_a_private_key_only_its_owner_reads_and_never_overwrites(signing: Path) -> None:
    key = signing / "keys" / "ledger.pem"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert b"PUBLIC KEY" in (signing / "keys" / "ledger.pem.pub").read_bytes()
    again = CliRunner().invoke(app, ["audit", "keygen", str(key)])
    assert again.exit_code == 2 and "不会覆盖" in again.output


def test_a_checkpoint_goes_to_the_file_the_channel_and_the_table(history: dict[str, int], signing: Path) -> None:
    out = _checkpoint()
    head_id, head_hash = _head(get_settings().database_url)
    assert f"事件 #{head_id} · {head_hash}" in out and "已送达 auditors" in out
    [line] = (signing / "outside" / "checkpoints.jsonl").read_text(encoding="utf-8").splitlines()
    assert json.loads(line)["event_id"] == head_id and json.loads(line)["hash"] == head_hash
    assert line in (signing / "auditors.md").read_text(encoding="utf-8")
    code, verified = _verify()
    assert code == 0 and "签名检查点：1 个，签名有效 1 个" in verified, verified


def _recompute_from(url: str, first: int, actor: str) -> None:
    """The 20-line attack of the issue: rewrite one event's actor, recompute every later hash and the head."""
    with get_engine(url).begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("SET LOCAL session_replication_role = replica")
        table = LedgerEvent.__table__  # type: ignore[attr-defined]
        rows = conn.execute(select(table).where(table.c.id >= first).order_by(table.c.id)).all()
        prev = rows[0].prev_hash
        for row in rows:
            who = actor if row.id == first else row.actor
            digest = event_hash(prev, row.id, row.at, who, row.kind, row.agreement_id, row.occurrence_id, row.payload)
            conn.execute(
                text("UPDATE ledger_event SET actor = :a, prev_hash = :p, hash = :h WHERE id = :i"),
                {"a": who, "p": prev, "h": digest, "i": row.id},
            )
            prev = digest
        conn.execute(text("UPDATE ledger_head SET last_hash = :h WHERE id = 1"), {"h": prev})


def test_recomputing_every_later_hash_is_caught_by_the_signed_checkpoint(
    history: dict[str, int], signing: Path, db_env: str
) -> None:
    url = db_env
    _checkpoint()
    first_signed, _ = _head(url)
    _report_more(db_env)
    _checkpoint()
    _recompute_from(url, first_signed + 1, "冒名者")
    with session_scope(url) as s:
        assert s.execute(text("SELECT actor FROM ledger_event WHERE id = :i"), {"i": first_signed + 1}).scalar() == (
            "冒名者"
        )
    code, out = _verify()
    assert code == 1, out
    assert "哈希链自洽" in out and "台账完整" not in out  # the chain alone is fooled, the signed head is not
    assert f"事件 #{first_signed + 1} 的哈希与签名时不同" in out
    assert f"自事件 #{first_signed + 1} 起的历史不再可信" in out
    # Signing the rewritten head is refused, so the forgery cannot be blessed after the fact.
    refused = CliRunner().invoke(app, ["audit", "checkpoint"])
    assert refused.exit_code == 2 and "拒绝签署" in refused.output


def test_deleting_the_newest_event_and_moving_the_head_back_is_caught(
    history: dict[str, int], signing: Path, db_env: str
) -> None:
    """Finding 1(c): a superuser switches the triggers off, deletes the newest event (a report) and rewinds the
    head — the chain alone verifies; the checkpoint and the report table do not."""
    _checkpoint()  # vouches for everything before the report; the next one for the report too
    _report_more(db_env)
    _checkpoint()
    newest, _ = _head(db_env)
    _write(db_env, "DELETE FROM ledger_event WHERE id = :i", {"i": newest})
    _write(
        db_env,
        "UPDATE ledger_head SET last_id = :i, last_hash = (SELECT hash FROM ledger_event WHERE id = :i)",
        {"i": newest - 1},
    )
    code, out = _verify()
    assert code == 1, out
    assert f"台账现只到事件 #{newest - 1}，签名时已有的事件 #{newest} 起被删除" in out
    assert f"自事件 #{newest} 起的历史不再可信" in out
    assert f"台账中没有对应的报告事件 #{newest}" in out


def test_deleting_the_checkpoint_rows_does_not_help_the_file_outside_still_holds_them(
    history: dict[str, int], signing: Path, db_env: str
) -> None:
    _checkpoint()
    signed, _ = _head(db_env)
    _recompute_from(db_env, 1, "冒名者")
    _write(db_env, "DELETE FROM ledger_checkpoint")
    code, out = _verify()
    assert code == 1, out
    assert "在文件中有，表中缺失" in out and "自事件 #1 起的历史不再可信" in out
    assert f"事件 #{signed} 的哈希与签名时不同" in out


def test_a_checkpoint_forged_with_another_key_is_refused(
    history: dict[str, int], signing: Path, db_env: str, tmp_path: Path
) -> None:
    other = verification.keygen(tmp_path / "mallory.pem")
    forged = checkpoint.sign(
        verification.private_key(_settings(db_env, ledger_key_file=other.private)), 1, "f" * 64, dt.datetime.now(dt.UTC)
    )
    _write(
        db_env,
        "INSERT INTO ledger_checkpoint (event_id, hash, at, key_id, signature, actor, created_at)"
        " VALUES (:e, :h, :a, :k, :s, 'mallory', CURRENT_TIMESTAMP)",
        {"e": forged.event_id, "h": forged.hash, "a": forged.at, "k": forged.key_id, "s": forged.signature},
    )
    code, out = _verify()
    assert code == 1 and "签名无效" in out, out


def test_checkpoint_needs_a_key(history: dict[str, int], db_env: str) -> None:
    with pytest.raises(CoopError, match="COOP_LEDGER_KEY_FILE"):
        verification.checkpoint(_settings(db_env), "测试")


# ---------------------------------------------------------------- (c) ledger_head only moves forward


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)  # SQLite has no roles; the checkpoints guard it
@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE ledger_head SET last_id = last_id - 1",
        "UPDATE ledger_head SET last_hash = 'ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff'",
        "UPDATE ledger_head SET last_id = last_id + 1",
        "DELETE FROM ledger_head",
    ],
)
def test_postgresql_keeps_ledger_head_moving_forward(history: dict[str, int], db_env: str, sql: str) -> None:
    before = _head(db_env)
    with pytest.raises(DBAPIError, match="台账头"), get_engine(db_env).begin() as conn:
        conn.exec_driver_sql(sql)
    assert _head(db_env) == before
    _report_more(db_env)
    assert _head(db_env)[0] == before[0] + 1 and verification.verify_ledger(_settings(db_env)).ok
