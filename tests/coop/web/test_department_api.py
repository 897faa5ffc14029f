"""The department JSON API over real HTTP: reports land in the ledger, a department sees only its own occurrences."""

from __future__ import annotations

import hashlib
import json

import pytest
from conftest_web import CHANGSHOU, PLANNED, PNG, YUBEI, Live, counts, stored_files

from coop import evidence as files
from models.db import session_scope
from models.tables import LedgerEvent, Occurrence


def test_department_lists_only_its_own_open_occurrences(live: Live) -> None:
    with live.client("yubei") as yubei, live.client("changshou") as changshou:
        mine = yubei.get("/api/v1/occurrences", params={"status": "all"}).json()
        theirs = changshou.get("/api/v1/occurrences", params={"status": "all"}).json()
        me = yubei.get("/api/v1/me").json()
    assert (
        me["role"] == "department"
        and me["department"]["party"] == "渝北区"
        and me["department"]["name"] == "区委社会工作部"
    )
    yubei_ids = {v for k, v in live.occurrences.items() if k.startswith("1.1@") or k == "1.2@2025-10-01/渝北区"}
    assert {o["id"] for o in mine} == yubei_ids
    assert {o["id"] for o in theirs} == {live.occurrences["1.2@2025-10-01/长寿区"]}
    assert all(o["targets"] for o in mine)


def test_other_departments_occurrence_is_404_exactly_like_a_missing_one(live: Live) -> None:
    theirs = live.occurrences["1.2@2025-10-01/长寿区"]
    with live.client("yubei") as yubei:
        foreign = yubei.get(f"/api/v1/occurrences/{theirs}")
        missing = yubei.get("/api/v1/occurrences/999999")
        report = yubei.post(f"/api/v1/occurrences/{theirs}/reports", json={"outcome": "done"})
    assert foreign.status_code == missing.status_code == report.status_code == 404
    assert foreign.json()["detail"] == missing.json()["detail"].replace("999999", str(theirs))
    assert "长寿区" not in foreign.text
    assert counts(live.db_url) == PLANNED


def test_report_lands_in_ledger_with_token_as_actor(live: Live) -> None:
    oid = live.occurrences["1.1@2026-12-31"]
    with live.client("yubei") as yubei:
        response = yubei.post(
            f"/api/v1/occurrences/{oid}/reports",
            json={
                "outcome": "done",
                "participants": 48,
                "metrics": {"participants": 48},
                "evidence": ["https://example.cn/p.jpg"],
            },
        )
        assert response.status_code == 201, response.text
        body = response.json()
        again = yubei.post(f"/api/v1/occurrences/{oid}/reports", json={"outcome": "done"})
    assert body["status"] == "done"
    assert again.status_code == 409
    with session_scope(live.db_url) as s:
        event = s.get(LedgerEvent, body["event_id"])
        assert event is not None and event.kind == "occurrence_done" and event.occurrence_id == oid
        assert event.actor.startswith(YUBEI) and "令牌 #" in event.actor
        payload = json.loads(event.payload)
        assert payload["metrics"] == {"participants": 48} and payload["on_time"] is True
        assert s.get(Occurrence, oid).status == "done"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "body",
    [
        {"metrics": {"participants": -1}},
        {"metrics": {"participants": 10**9}},
        {"metrics": {"participants": True}},
        {"metrics": {"participants": "12"}},
        {"metrics": {"questionnaires": 3}},
        {"metrics": {"Bad Name": 3}},
        {"participants": -5},
        {"participants": 1.5},
        {"outcome": "finished"},
        {"outcome": "cannot"},
        {"outcome": "cannot", "note": "   "},
        {"evidence": ["ftp://example.cn/x"]},
        {"evidence": ["sha256:" + "0" * 64]},
        {"evidence": ["https://x.cn/" + "a" * 600]},
        {"note": "长" * 2001},
        {"unexpected": 1},
    ],
)
def test_invalid_reports_are_4xx_and_write_nothing(live: Live, body: dict[str, object]) -> None:
    oid = live.occurrences["1.1@2026-12-31"]
    with live.client("yubei") as yubei:
        response = yubei.post(f"/api/v1/occurrences/{oid}/reports", json=body)
    assert response.status_code == 422, response.text
    assert response.json()["detail"]
    assert counts(live.db_url) == PLANNED


def test_unknown_occurrence_and_bad_tokens(live: Live) -> None:
    with live.client("yubei") as yubei:
        assert yubei.post("/api/v1/occurrences/424242/reports", json={}).status_code == 404
    with live.client() as anonymous:
        assert anonymous.get("/api/v1/occurrences").status_code == 401
        assert anonymous.get("/api/v1/occurrences", headers={"Authorization": "Bearer coop_nope"}).status_code == 401
    assert counts(live.db_url) == PLANNED


def test_revoked_token_is_refused(live: Live) -> None:
    from coop.store.access import list_tokens, revoke_token

    with session_scope(live.db_url) as s:
        [row] = [t for t in list_tokens(s) if t.label == CHANGSHOU]
        revoke_token(s, row.id)  # type: ignore[arg-type]
    with live.client("changshou") as changshou:
        assert changshou.get("/api/v1/occurrences").status_code == 401


def test_evidence_upload_is_content_addressed_and_cited_in_the_ledger(live: Live) -> None:
    oid = live.occurrences["1.1@2026-12-31"]
    digest = hashlib.sha256(PNG).hexdigest()
    with live.client("yubei") as yubei:
        first = yubei.post("/api/v1/evidence", files={"file": ("签到表.png", PNG, "image/png")})
        second = yubei.post("/api/v1/evidence", files={"file": ("same.png", PNG, "application/octet-stream")})
        assert first.status_code == second.status_code == 201, first.text
        uploaded = first.json()
        report = yubei.post(
            f"/api/v1/occurrences/{oid}/reports", json={"outcome": "partial", "evidence": [uploaded["ref"]]}
        )
    assert (
        uploaded["sha256"] == digest
        and uploaded["content_type"] == "image/png"
        and uploaded["filename"] == "签到表.png"
    )
    assert second.json()["sha256"] == digest
    assert stored_files(live) == [files.path_for(live.settings.evidence_dir, digest)]
    assert stored_files(live)[0].read_bytes() == PNG
    assert report.status_code == 201
    with session_scope(live.db_url) as s:
        event = s.get(LedgerEvent, report.json()["event_id"])
        assert event is not None and f"sha256:{digest}" in event.payload


@pytest.mark.parametrize(
    "name, content, status",
    [
        ("big.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * (64 * 1024), 413),
        ("notes.pdf", b"just some text, not a PDF", 415),
        ("fake.docx", b"PK\x03\x04" + b"\x00" * 100, 415),
        ("script.html", b"<script>alert(1)</script>", 415),
        ("empty.png", b"", 422),
    ],
)
def test_refused_uploads_store_nothing(live: Live, name: str, content: bytes, status: int) -> None:
    with live.client("yubei") as yubei:
        response = yubei.post("/api/v1/evidence", files={"file": (name, content, "application/pdf")})
    assert response.status_code == status, response.text
    assert counts(live.db_url) == PLANNED
    assert stored_files(live) == []


def test_a_repeated_query_parameter_is_refused(live: Live) -> None:
    with live.client("yubei") as yubei:
        response = yubei.get("/api/v1/occurrences?offset=0&offset=5")
    assert response.status_code == 400 and "offset" in response.json()["detail"]
