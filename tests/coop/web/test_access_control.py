"""Roles over real HTTP: auditors never write, coordinators alone plan/waive/cancel, departments stay in their lane."""

from __future__ import annotations

import pytest
from conftest_web import CHANGSHOU, COORDINATOR, PLANNED, PNG, YUBEI, Live, counts
from sqlalchemy import select

from models.db import session_scope
from models.tables import LedgerEvent, Occurrence

WRITES = [
    ("POST", "/api/v1/occurrences/{oid}/reports", {"json": {"outcome": "done"}}),
    ("POST", "/api/v1/evidence", {"files": {"file": ("a.png", PNG, "image/png")}}),
    ("POST", "/api/v1/coordinator/occurrences/{oid}/waive", {"json": {"reason": "测试"}}),
    ("POST", "/api/v1/coordinator/occurrences/{oid}/cancel", {"json": {"reason": "测试"}}),
    ("POST", "/api/v1/coordinator/plan", {"json": {"agreement_file": "small.yaml"}}),
    ("POST", "/api/v1/coordinator/links", {"json": {"department": YUBEI}}),
]


@pytest.mark.parametrize("method, path, kwargs", WRITES)
def test_auditor_cannot_write_anything(live: Live, method: str, path: str, kwargs: dict[str, object]) -> None:
    with live.client("auditor") as auditor:
        response = auditor.request(method, path.format(oid=live.occurrences["1.1@2026-12-31"]), **kwargs)  # type: ignore[arg-type]
    assert response.status_code == 403, response.text
    assert "只读" in response.json()["detail"]
    assert counts(live.db_url) == PLANNED


@pytest.mark.parametrize("method, path, kwargs", WRITES[2:])
def test_departments_are_not_coordinators(live: Live, method: str, path: str, kwargs: dict[str, object]) -> None:
    with live.client("yubei") as yubei:
        response = yubei.request(method, path.format(oid=live.occurrences["1.1@2026-12-31"]), **kwargs)  # type: ignore[arg-type]
    assert response.status_code == 403
    assert counts(live.db_url) == PLANNED


@pytest.mark.parametrize(
    "path",
    ["/api/v1/audit/rates", "/api/v1/audit/verify", "/api/v1/audit/export.csv", "/api/v1/audit/occurrences/1/history"],
)
def test_departments_cannot_audit_and_anonymous_gets_401(live: Live, path: str) -> None:
    with live.client("yubei") as yubei, live.client() as anonymous:
        assert yubei.get(path).status_code == 403
        assert anonymous.get(path).status_code == 401
    with live.client("auditor") as auditor, live.client("coordinator") as coordinator:
        assert auditor.get(path).status_code == 200
        assert coordinator.get(path).status_code == 200


def test_auditor_and_coordinator_have_no_department_view(live: Live) -> None:
    with live.client("auditor") as auditor, live.client("coordinator") as coordinator:
        assert auditor.get("/api/v1/occurrences").status_code == 403
        assert coordinator.get("/api/v1/occurrences").status_code == 403
        assert auditor.get("/api/v1/me").json()["role"] == "auditor"


def test_coordinator_waives_and_cancels_with_reasons_in_the_ledger(live: Live) -> None:
    waived, cancelled = live.occurrences["1.1@2026-12-31"], live.occurrences["1.1@2027-03-31"]
    with live.client("coordinator") as coordinator:
        w = coordinator.post(f"/api/v1/coordinator/occurrences/{waived}/waive", json={"reason": "疫情停办"})
        c = coordinator.post(f"/api/v1/coordinator/occurrences/{cancelled}/cancel", json={"reason": "活动取消"})
        twice = coordinator.post(f"/api/v1/coordinator/occurrences/{waived}/cancel", json={"reason": "再次"})
        missing = coordinator.post("/api/v1/coordinator/occurrences/999999/waive", json={"reason": "x"})
        empty = coordinator.post(f"/api/v1/coordinator/occurrences/{cancelled}/waive", json={"reason": ""})
    assert (w.status_code, c.status_code, twice.status_code, missing.status_code, empty.status_code) == (
        200,
        200,
        409,
        404,
        422,
    )
    with session_scope(live.db_url) as s:
        assert s.get(Occurrence, waived).status == "waived" and s.get(Occurrence, cancelled).status == "cancelled"  # type: ignore[union-attr]
        events = {e.kind: e for e in s.execute(select(LedgerEvent)).scalars()}
    assert "疫情停办" in events["occurrence_waived"].payload and "活动取消" in events["occurrence_cancelled"].payload
    assert events["occurrence_waived"].actor.startswith(f"{COORDINATOR}（协调人令牌 #")


def test_coordinator_plans_from_the_agreements_folder_only(live: Live) -> None:
    with live.client("coordinator") as coordinator:
        before = counts(live.db_url)  # after the coordinator's own token was issued
        again = coordinator.post(
            "/api/v1/coordinator/plan", json={"agreement_file": "small.yaml", "today": "2026-03-01"}
        )
        traversal = coordinator.post("/api/v1/coordinator/plan", json={"agreement_file": "../conftest.py"})
        absolute = coordinator.post("/api/v1/coordinator/plan", json={"agreement_file": "/etc/passwd.yaml"})
        missing = coordinator.post("/api/v1/coordinator/plan", json={"agreement_file": "nope.yaml"})
    assert again.status_code == 200 and again.json()["unchanged"] is True
    assert traversal.status_code == absolute.status_code == 422
    assert missing.status_code == 404
    assert counts(live.db_url) == before


def test_coordinator_mints_links_that_work_only_for_that_department(live: Live) -> None:
    mine, theirs = live.occurrences["1.1@2026-12-31"], live.occurrences["1.2@2025-10-01/长寿区"]
    with live.client("coordinator") as coordinator:
        report = coordinator.post("/api/v1/coordinator/links", json={"department": YUBEI, "occurrence_id": mine})
        listing = coordinator.post("/api/v1/coordinator/links", json={"department": str(live.departments[CHANGSHOU])})
        wrong = coordinator.post("/api/v1/coordinator/links", json={"department": YUBEI, "occurrence_id": theirs})
        unknown = coordinator.post("/api/v1/coordinator/links", json={"department": "渝中区/不存在"})
        huge = coordinator.post("/api/v1/coordinator/links", json={"department": "9" * 40})
    assert report.status_code == listing.status_code == 200
    assert report.json()["url"].startswith(live.url + "/r/") and listing.json()["purpose"] == "list"
    assert (wrong.status_code, unknown.status_code, huge.status_code) == (404, 403, 403)
    with live.client() as browser:
        assert browser.get(report.json()["url"]).status_code == 200
        page = browser.get(listing.json()["url"])
    assert page.status_code == 200 and "长寿区区委社会工作部" in page.text


def test_wrong_coordinator_token_is_401(live: Live) -> None:
    with live.client() as client:
        response = client.post(
            "/api/v1/coordinator/plan",
            json={"agreement_file": "small.yaml"},
            headers={"Authorization": "Bearer coordinator-test-token-012345678X"},
        )
    assert response.status_code == 401
