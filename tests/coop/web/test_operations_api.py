"""Coordinator operations over real HTTP: the shared token only bootstraps, named coordinators act and are named."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import FIXTURES
from conftest_web import COORDINATOR, PLAN_DAY, YUBEI, Live, counts
from sqlalchemy import select

from coop.access import is_coordinator_token
from coop.errors import CoopError
from coop.services.planning import plan_agreement
from coop.settings import Settings
from coop.web import create_app
from models.db import session_scope
from models.tables import LedgerEvent, Occurrence


def test_the_shared_token_issues_the_first_coordinator_and_nothing_else(live: Live) -> None:
    with live.client("bootstrap") as bootstrap:
        plan = bootstrap.post("/api/v1/coordinator/plan", json={"agreement_file": "small.yaml"})
        waive = bootstrap.post(
            f"/api/v1/coordinator/occurrences/{live.occurrences['1.1@2026-12-31']}/waive", json={"reason": "试"}
        )
        first = bootstrap.post("/api/v1/coordinator/tokens", json={"person": "张协调"})
        second = bootstrap.post("/api/v1/coordinator/tokens", json={"person": "李冒名"})
    assert plan.status_code == waive.status_code == 403
    assert "只能用于签发第一个具名协调人令牌" in plan.json()["detail"]
    assert first.status_code == 201 and first.json()["person"] == "张协调"
    assert second.status_code == 403 and "已有具名协调人" in second.json()["detail"]
    with live.client() as client:
        me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {first.json()['token']}"})
    assert me.status_code == 200


def test_operations_over_http_carry_the_person(live: Live) -> None:
    oid = live.occurrences["1.1@2026-06-30"]
    with live.client("coordinator") as coordinator:
        extended = coordinator.post(
            f"/api/v1/coordinator/occurrences/{oid}/extend", json={"due_date": "2026-07-31", "reason": "场地改造"}
        )
        suspended = coordinator.post(f"/api/v1/coordinator/occurrences/{oid}/suspend", json={"reason": "汛期"})
        resumed = coordinator.post(f"/api/v1/coordinator/occurrences/{oid}/resume", json={"reason": "汛期结束"})
        moved = coordinator.post(
            f"/api/v1/coordinator/occurrences/{oid}/reassign",
            json={"department": "渝北区/团区委", "reason": "改由团区委"},
        )
        no_reason = coordinator.post(f"/api/v1/coordinator/occurrences/{oid}/suspend", json={"reason": ""})
        reopen_open = coordinator.post(f"/api/v1/coordinator/occurrences/{oid}/reopen", json={"reason": "未完成"})
    assert [r.status_code for r in (extended, suspended, resumed, moved)] == [200, 200, 200, 200], extended.text
    assert (no_reason.status_code, reopen_open.status_code) == (422, 409)
    assert extended.json()["actor"].startswith(f"{COORDINATOR}（协调人令牌 #")
    with live.client("auditor") as auditor:
        history = auditor.get(f"/api/v1/audit/occurrences/{oid}/history").json()
    shown = [(e["kind"], e["actor"]) for e in history["events"]]
    operations = [kind for kind, actor in shown if actor.startswith(COORDINATOR)]
    assert operations == ["occurrence_extended", "occurrence_suspended", "occurrence_resumed", "occurrence_reassigned"]


def test_revoked_coordinators_are_refused(live: Live) -> None:
    oid = live.occurrences["1.1@2026-06-30"]
    with live.client("coordinator") as chief:
        limited = chief.post("/api/v1/coordinator/tokens", json={"person": "赵专员", "agreements": ["test-small"]})
        nowhere = chief.post("/api/v1/coordinator/tokens", json={"person": "钱专员", "agreements": ["no-such"]})
    assert limited.status_code == 201 and nowhere.status_code == 422
    headers = {"Authorization": f"Bearer {limited.json()['token']}"}
    with live.client() as client:
        ok = client.post(f"/api/v1/coordinator/occurrences/{oid}/suspend", json={"reason": "本协议"}, headers=headers)
        assert ok.status_code == 200
        with live.client("coordinator") as chief:
            revoked = chief.post(f"/api/v1/coordinator/tokens/{limited.json()['id']}/revoke", json={"reason": "调岗"})
            listed = {t["id"]: t for t in chief.get("/api/v1/coordinator/tokens").json()}
        assert revoked.status_code == 200 and listed[limited.json()["id"]]["live"] is False
        after = client.post(f"/api/v1/coordinator/occurrences/{oid}/resume", json={"reason": "撤销后"}, headers=headers)
    assert after.status_code == 401


def test_a_coordinator_limited_to_another_agreement_gets_403(live: Live, tmp_path: Path) -> None:
    other = tmp_path / "other.yaml"
    text = (FIXTURES / "small.yaml").read_text(encoding="utf-8")
    other.write_text(text.replace("id: test-small", "id: test-other", 1), encoding="utf-8")
    plan_agreement(live.db_url, other, PLAN_DAY, "测试", settings=live.settings)
    with session_scope(live.db_url) as s:
        theirs = s.execute(
            select(Occurrence.id).where(Occurrence.agreement_id == "test-other", Occurrence.key == "1.1@2026-09-30")
        ).scalar_one()
    with live.client("coordinator") as chief:
        limited = chief.post("/api/v1/coordinator/tokens", json={"person": "赵专员", "agreements": ["test-small"]})
    headers = {"Authorization": f"Bearer {limited.json()['token']}"}
    before = counts(live.db_url)
    with live.client() as client:
        refused = client.post(
            f"/api/v1/coordinator/occurrences/{theirs}/suspend", json={"reason": "越权"}, headers=headers
        )
    assert refused.status_code == 403 and "只负责协议 test-small" in refused.json()["detail"]
    assert counts(live.db_url) == before


def test_backfill_upload_all_or_nothing(live: Live) -> None:
    done, theirs = live.occurrences["1.1@2025-09-30"], live.occurrences["1.2@2025-10-01/长寿区"]
    good = f"任务编号,部门,完成日期\n{done},{YUBEI},2025-09-29\n".encode()
    bad = good + f"{theirs},{YUBEI},2025-10-02\n".encode()
    with live.client("coordinator") as coordinator:
        before = counts(live.db_url)
        refused = coordinator.post("/api/v1/coordinator/backfill", files={"file": ("台账.csv", bad, "text/csv")})
        assert counts(live.db_url) == before
        accepted = coordinator.post("/api/v1/coordinator/backfill", files={"file": ("台账.csv", good, "text/csv")})
    assert refused.status_code == 422 and "第 3 行" in refused.json()["detail"]
    assert accepted.status_code == 200 and accepted.json()["recorded"] == 1
    with session_scope(live.db_url) as s:
        event = s.get(LedgerEvent, accepted.json()["event_ids"][0])
    assert event is not None and event.actor.startswith(COORDINATOR)
    assert json.loads(event.payload)["backfill"] is True


def test_a_short_shared_token_is_refused_at_start_up(tmp_path: Path) -> None:
    short = Settings(coordinator_token="x", secret_key="k" * 32, database_url=f"sqlite:///{tmp_path / 'c.db'}")  # type: ignore[arg-type]
    with pytest.raises(CoopError, match="至少 16 个字符"):
        create_app(short)
    assert not is_coordinator_token("x", short)


def test_a_broken_workbook_is_a_clear_422(live: Live) -> None:
    with live.client("coordinator") as coordinator:
        broken = coordinator.post(
            "/api/v1/coordinator/backfill",
            files={"file": ("台账.xlsx", b"PK\x03\x04 not a workbook", "application/zip")},
        )
        text = coordinator.post("/api/v1/coordinator/backfill", files={"file": ("台账.txt", b"x", "text/plain")})
    assert broken.status_code == 422 and "台账.xlsx 不是有效的 XLSX 文件" in broken.json()["detail"]
    assert text.status_code == 422 and "只接受 .csv 或 .xlsx" in text.json()["detail"]
