"""The auditor API over real HTTP: rates, overdue, progress, history, as-of, streamed exports, ledger verification."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json

import pytest
from conftest_web import CHANGSHOU, PNG, Live, tamper
from openpyxl import load_workbook
from sqlalchemy import text

from coop.clock import today_in_shanghai
from coop.store.occurrences import sweep
from models.db import session_scope


@pytest.fixture
def reported(live: Live) -> Live:
    """Today's activity on the small agreement: two reports, a partial one with a file, one waiver, a sweep."""
    o = live.occurrences
    with (
        live.client("yubei") as yubei,
        live.client("changshou") as changshou,
        live.client("coordinator") as coordinator,
    ):
        sha = yubei.post("/api/v1/evidence", files={"file": ("签到表.png", PNG, "image/png")}).json()["ref"]
        for oid, body in [
            (o["1.1@2026-03-31"], {"participants": 45, "metrics": {"participants": 45}, "evidence": [sha]}),
            (o["1.1@2026-12-31"], {"participants": 50, "metrics": {"participants": 50}}),
        ]:
            assert yubei.post(f"/api/v1/occurrences/{oid}/reports", json=body).status_code == 201
        partial = {"outcome": "partial", "metrics": {"suggestions": 7}, "note": "已收集7条"}
        assert (
            changshou.post(f"/api/v1/occurrences/{o['1.2@2025-10-01/长寿区']}/reports", json=partial).status_code == 201
        )
        waive = coordinator.post(
            f"/api/v1/coordinator/occurrences/{o['1.2@2025-10-01/广安市']}/waive", json={"reason": "并入市级活动"}
        )
        assert waive.status_code == 200
    with session_scope(live.db_url) as s:
        sweep(s, today_in_shanghai(), "系统")
    return live


def test_rates_by_party(reported: Live) -> None:
    with reported.client("auditor") as auditor:
        body = auditor.get("/api/v1/audit/rates", params={"group_by": "party"}).json()
    overall = body["overall"]
    # 11 occurrences are past due; 广安市's is waived: 10 expected, one done (late), nine overdue, one done early.
    assert (
        overall["total"],
        overall["expected"],
        overall["done"],
        overall["on_time"],
        overall["overdue"],
        overall["done_total"],
    ) == (15, 10, 1, 0, 9, 2)
    assert overall["completion_rate"] == 0.1 and overall["on_time_rate"] == 0.0
    groups = {g["group"]: g for g in body["groups"]}
    assert (groups["渝北区"]["expected"], groups["渝北区"]["done"], groups["渝北区"]["overdue"]) == (9, 1, 8)
    assert (groups["长寿区"]["overdue"], groups["广安市"]["waived"], groups["广安市"]["expected"]) == (1, 1, 0)


def test_overdue_list_filtered_by_department(reported: Live) -> None:
    with reported.client("auditor") as auditor:
        body = auditor.get("/api/v1/audit/overdue", params={"department": CHANGSHOU, "group_by": "department"}).json()
        limited = auditor.get("/api/v1/audit/overdue", params={"limit": 2}).json()
    assert body["count"] == 1 and body["items"][0]["occurrence_id"] == reported.occurrences["1.2@2025-10-01/长寿区"]
    # working days, as the escalations count them: over a year late is over 240 working days
    assert body["items"][0]["group"] == CHANGSHOU and body["items"][0]["days_overdue"] > 240
    assert limited["count"] == 9 and [i["due_date"] for i in limited["items"]] == ["2025-09-10", "2025-09-30"]


def test_progress_toward_targets(reported: Live) -> None:
    with reported.client("auditor") as auditor:
        items = auditor.get("/api/v1/audit/progress").json()["items"]
    progress = {(i["clause"], i["metric"]): (i["reported"], i["target"]) for i in items}
    assert progress == {("1.1", "participants"): (95, 400), ("1.2", "suggestions"): (7, 40)}


def test_history_shows_who_when_and_evidence(reported: Live) -> None:
    oid = reported.occurrences["1.1@2026-03-31"]
    with reported.client("auditor") as auditor:
        history = auditor.get(f"/api/v1/audit/occurrences/{oid}/history").json()
        clause = auditor.get("/api/v1/audit/agreements/test-small/clauses/1.2/history").json()
        unknown = auditor.get("/api/v1/audit/occurrences/999999/history")
        unknown_clause = auditor.get("/api/v1/audit/agreements/test-small/clauses/9.9/history")
    kinds = [e["kind"] for e in history["events"]]
    assert kinds == ["agreement_planned", "occurrence_done"]  # reported before the sweep, so never swept
    done = history["events"][-1]
    assert (
        done["actor"].startswith("渝北区/区委社会工作部")
        and done["evidence"][0].startswith("sha256:")
        and done["payload"]["on_time"] is False
    )
    # the plan itself made 1.2 (due 2025-10) overdue as of its day; the later sweep has nothing left to change there
    assert [e["kind"] for e in clause["events"]] == [
        "agreement_planned",
        "sweep_overdue",
        "occurrence_progress",
        "occurrence_waived",
    ]
    assert unknown.status_code == 404 and unknown_clause.status_code == 422


def test_as_of_rebuilds_the_past_and_refuses_the_future(reported: Live) -> None:
    today = today_in_shanghai()
    with reported.client("auditor") as auditor:
        yesterday = auditor.get("/api/v1/audit/rates", params={"as_of": str(today - dt.timedelta(days=1))}).json()
        future = auditor.get("/api/v1/audit/rates", params={"as_of": str(today + dt.timedelta(days=1))})
        now = auditor.get("/api/v1/audit/rates", params={"as_of": str(today)}).json()
    assert yesterday["overall"]["total"] == 0  # the agreement was planned today
    assert future.status_code == 422
    assert now["overall"]["total"] == 15


def test_csv_and_xlsx_exports_stream_every_occurrence(reported: Live) -> None:
    with reported.client("auditor") as auditor:
        with auditor.stream("GET", "/api/v1/audit/export.csv", params={"party": "渝北区"}) as response:
            assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
            assert "attachment" in response.headers["content-disposition"]
            data = b"".join(response.iter_bytes())
        xlsx = auditor.get("/api/v1/audit/export.xlsx")
        bad = auditor.get("/api/v1/audit/export.pdf")
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert len(rows) == 1 + 13 and {r[6] for r in rows[1:]} == {"渝北区"}
    done = [r for r in rows if r[0] == str(reported.occurrences["1.1@2026-03-31"])][0]
    assert done[11] == "已完成" and done[13] == "否" and done[16] == "45" and done[18] == "1"
    sheet = load_workbook(io.BytesIO(xlsx.content), read_only=True).active
    assert len(list(sheet.iter_rows(values_only=True))) == 16
    assert bad.status_code == 422


def test_verify_finds_the_first_tampered_event(reported: Live) -> None:
    with reported.client("auditor") as auditor:
        clean = auditor.get("/api/v1/audit/verify").json()
        assert {k: clean[k] for k in ("ok", "events", "head_matches", "first_break_event", "first_break_reason")} == {
            "ok": True,
            "events": 9,  # the plan with its two sweeps, token_issued, four reports/waiver, the sweep
            "head_matches": True,
            "first_break_event": None,
            "first_break_reason": None,
        }
        assert clean["head_id"] == clean["events"] and len(clean["head_hash"]) == 64 and clean["differences"] == 0
        with session_scope(reported.db_url) as s:
            event_id, payload = s.execute(
                text("SELECT id, payload FROM ledger_event WHERE kind = 'occurrence_done' ORDER BY id LIMIT 1")
            ).one()
        assert json.loads(payload)["participants"] == 45
        forged = json.dumps(
            {**json.loads(payload), "participants": 450}, ensure_ascii=False, sort_keys=True, separators=(",", ":")
        )
        tamper(reported.db_url, "UPDATE ledger_event SET payload = :p WHERE id = :id", {"p": forged, "id": event_id})
        result = auditor.get("/api/v1/audit/verify").json()
    assert result["ok"] is False and result["first_break_event"] == event_id
    assert "altered" in result["first_break_reason"]


def test_auditor_downloads_evidence_by_hash(reported: Live) -> None:
    import hashlib

    digest = hashlib.sha256(PNG).hexdigest()
    with reported.client("auditor") as auditor, reported.client("yubei") as yubei:
        got = auditor.get(f"/api/v1/audit/evidence/{digest}")
        missing = auditor.get(f"/api/v1/audit/evidence/{'0' * 64}")
        malformed = auditor.get("/api/v1/audit/evidence/..%2F..%2Fetc%2Fpasswd")
        department = yubei.get(f"/api/v1/audit/evidence/{digest}")
    assert got.status_code == 200 and got.content == PNG and got.headers["content-type"] == "image/png"
    assert missing.status_code == 404 and malformed.status_code in (404, 422) and department.status_code == 403
