"""The dashboard's JSON over real HTTP (SQLite and PostgreSQL): the same figures as the audit rates, a heat map of
overdue tasks, term progress, and a task's history told in Chinese sentences; auditors and coordinators only."""

from __future__ import annotations

import pytest
from conftest_web import CHANGSHOU, PNG, YUBEI, Live

from coop.clock import today_in_shanghai
from coop.store.occurrences import sweep
from models.db import session_scope


@pytest.fixture
def reported(live: Live) -> Live:
    """Two reports (one with a stored photo), a partial report, a waiver and an extension, then a sweep."""
    o = live.occurrences
    with (
        live.client("yubei") as yubei,
        live.client("changshou") as changshou,
        live.client("coordinator") as coordinator,
    ):
        sha = yubei.post("/api/v1/evidence", files={"file": ("签到表.png", PNG, "image/png")}).json()["ref"]
        body = {"participants": 45, "metrics": {"participants": 45}, "evidence": [sha, "https://x.cn/a.jpg"]}
        assert yubei.post(f"/api/v1/occurrences/{o['1.1@2026-03-31']}/reports", json=body).status_code == 201
        early = {"participants": 50, "metrics": {"participants": 50}, "note": "提前举办"}
        assert yubei.post(f"/api/v1/occurrences/{o['1.1@2026-12-31']}/reports", json=early).status_code == 201
        partial = {"outcome": "partial", "metrics": {"suggestions": 7}, "note": "已收集7条"}
        url = f"/api/v1/occurrences/{o['1.2@2025-10-01/长寿区']}/reports"
        assert changshou.post(url, json=partial).status_code == 201
        waive = {"reason": "并入市级活动"}
        url = f"/api/v1/coordinator/occurrences/{o['1.2@2025-10-01/广安市']}/waive"
        assert coordinator.post(url, json=waive).status_code == 200
    with session_scope(live.db_url) as s:
        sweep(s, today_in_shanghai(), "系统")
    return live


def test_dashboard_figures_match_the_audit_rates(reported: Live) -> None:
    with reported.client("auditor") as auditor:
        board = auditor.get("/api/v1/audit/dashboard")
        rates = {
            by: auditor.get("/api/v1/audit/rates", params={"group_by": by}).json()
            for by in ("department", "party", "programme", "month")
        }
    assert board.status_code == 200, board.text
    body = board.json()
    # The same arithmetic as `coop audit rates` / the rates route, grouping by grouping.
    assert body["overall"] == rates["party"]["overall"]
    assert body["by_department"] == rates["department"]["groups"]
    assert body["by_party"] == rates["party"]["groups"]
    assert [{k: v for k, v in r.items() if k != "title"} for r in body["by_programme"]] == rates["programme"]["groups"]
    assert body["by_month"] == rates["month"]["groups"]
    overall = body["overall"]
    assert (overall["total"], overall["expected"], overall["done"], overall["overdue"]) == (15, 10, 1, 9)
    assert {r["group"]: r["title"] for r in body["by_programme"]} == {
        "test-small / 1": "党建联建工程",
        "test-small / 6": "安全联护工程",
    }
    # The heat map counts each department's overdue tasks per month of the due date; the cells add up to the total.
    heat = body["heat"]
    assert sum(n for _, _, n in heat["cells"]) == body["overdue_count"] == 9
    cell = {(heat["departments"][d], heat["months"][m]): n for m, d, n in heat["cells"]}
    assert cell[(CHANGSHOU, "2025-10")] == 1  # its partial report does not close it
    assert ("广安市/市委社会工作部", "2025-10") not in cell  # waived: owed nothing, so no cell (not a "clean" one)
    assert cell[(YUBEI, "2026-03")] == 0  # reported (late), so not overdue
    assert heat["peak"] == max(n for _, _, n in heat["cells"])
    assert len(body["overdue"]) == 9 and body["overdue"] == sorted(body["overdue"], key=lambda i: i["due_date"])
    # Term targets per programme and agreement (no clause rows): 95 participants reported so far.
    levels = {(p["level"], p["scope"], p["metric"]): p for p in body["progress"]}
    assert {level for level, _, _ in levels} == {"programme", "agreement"}
    assert levels[("programme", "1", "participants")]["reported"] == 95
    assert levels[("agreement", "", "participants")]["label"] == "参与人数"


def test_dashboard_filters_and_as_of(reported: Live) -> None:
    with reported.client("auditor") as auditor:
        narrowed = auditor.get("/api/v1/audit/dashboard", params={"department": YUBEI, "limit": 2}).json()
        yesterday = auditor.get("/api/v1/audit/dashboard", params={"as_of": "2026-03-01"}).json()
        future = auditor.get("/api/v1/audit/dashboard", params={"as_of": "2999-01-01"})
        bad_department = auditor.get("/api/v1/audit/dashboard", params={"department": "渝北区"})
        huge_limit = auditor.get("/api/v1/audit/dashboard", params={"limit": 100000})
    assert [r["group"] for r in narrowed["by_department"]] == [YUBEI]
    assert narrowed["filters"] == {"department": YUBEI}
    assert len(narrowed["overdue"]) == 2 and narrowed["overdue_count"] == 5
    # As of the plan day (rebuilt from the ledger): nothing was reported yet.
    assert yesterday["as_of"] == "2026-03-01" and yesterday["overall"]["done"] == 0
    assert future.status_code == 422 and "晚于今天" in future.json()["detail"]
    assert bad_department.status_code == 422 and "单位/部门" in bad_department.json()["detail"]
    assert huge_limit.status_code == 422


def test_history_is_told_in_chinese_sentences(reported: Live) -> None:
    oid = reported.occurrences["1.1@2026-03-31"]
    with reported.client("coordinator") as coordinator:
        extended = coordinator.post(
            f"/api/v1/coordinator/occurrences/{reported.occurrences['6.1@2026-09-10']}/extend",
            json={"due_date": "2026-12-31", "reason": "汛期推迟"},
        )
        assert extended.status_code == 200, extended.text
        told = coordinator.get(f"/api/v1/audit/occurrences/{oid}/narrative").json()
        moved = coordinator.get(f"/api/v1/audit/occurrences/{reported.occurrences['6.1@2026-09-10']}/narrative").json()
    with reported.client("auditor") as auditor:
        raw = auditor.get(f"/api/v1/audit/occurrences/{oid}/history").json()
        missing = auditor.get("/api/v1/audit/occurrences/999999/narrative")
    assert (told["clause_title"], told["status"], told["status_label"]) == ("联合培训", "done", "已完成")
    sentences = [e["sentence"] for e in told["events"]]
    assert sentences[0].endswith("tester 生成协议计划第 1 版：新建 15 项；共 15 项任务")
    report = told["events"][-1]
    assert report["kind"] == "occurrence_done" and report["actor"].startswith(YUBEI)
    assert report["sentence"] == (
        f"{report['at']} {report['actor']} 提交完成报告：已完成，参与人数 45，晚于截止日期 2026-03-31，证据 2 份"
    )
    assert report["evidence"][0].startswith("sha256:") and report["evidence"][1] == "https://x.cn/a.jpg"
    # The hash stays available for auditors who check the chain; it is the ledger's own.
    assert [e["hash"] for e in told["events"]] == [e["hash"] for e in raw["events"]]
    assert not any("{" in s or "sha256" in s for s in sentences)
    extension = moved["events"][-1]["sentence"]
    assert "延期：截止日期 2026-09-10 → 2026-12-31，理由：汛期推迟" in extension and "协调人 王五" in extension
    assert missing.status_code == 404


def test_only_auditors_and_coordinators_read_the_dashboard(live: Live) -> None:
    oid = live.occurrences["1.1@2026-03-31"]
    for who, status in [(None, 401), ("yubei", 403), ("bootstrap", 403), ("auditor", 200), ("coordinator", 200)]:
        with live.client(who) as client:
            assert client.get("/api/v1/audit/dashboard").status_code == status, who
            assert client.get(f"/api/v1/audit/occurrences/{oid}/narrative").status_code == status, who


def test_the_page_and_its_scripts_are_served_locally(live: Live) -> None:
    with live.client() as anyone:
        page = anyone.get("/audit")
        echarts = anyone.get("/static/echarts/echarts.min.js")
        script = anyone.get("/static/dashboard.js")
        licence = anyone.get("/static/echarts/LICENSE")
    assert page.status_code == 200 and "审计看板" in page.text
    # No data and no CDN in the page: scripts come from this origin only, and the CSP says so.
    assert 'src="/static/echarts/echarts.min.js"' in page.text and "http" not in page.text.split("<body>")[1]
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert echarts.status_code == 200 and "Apache" in echarts.text[:2000] and len(echarts.content) > 500_000
    assert script.status_code == 200 and "/api/v1/audit/dashboard" in script.text
    assert licence.status_code == 200 and "Apache License" in licence.text
