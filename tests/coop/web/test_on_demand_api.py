"""Opening on-demand occurrences over real HTTP: a named coordinator for any department, a department for itself."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from conftest import small_with_on_demand
from conftest_web import CHANGSHOU, COORDINATOR, PLAN_DAY, Live, counts
from sqlalchemy import select

from coop.clock import today_in_shanghai
from coop.services.on_demand import EVENT_KIND
from coop.services.planning import plan_agreement
from models.db import session_scope
from models.tables import LedgerEvent, Occurrence


@pytest.fixture
def term_end(live: Live, tmp_path: Path) -> dt.date:
    """The small agreement with an on-demand clause, its term running on past the real today the API opens on."""
    end = today_in_shanghai() + dt.timedelta(days=300)
    text = small_with_on_demand().replace("end: 2027-08-31", f"end: {end}")
    path = tmp_path / "small.yaml"
    path.write_text(text, encoding="utf-8")
    plan_agreement(live.db_url, path, PLAN_DAY, "测试", settings=live.settings)
    return end


def _opened(db_url: str) -> list[Occurrence]:
    with session_scope(db_url) as s:
        rows = s.execute(select(Occurrence).where(Occurrence.key.startswith("9.1@"))).scalars()  # type: ignore[attr-defined]
        return sorted(rows, key=lambda o: o.key)


URL = "/api/v1/coordinator/agreements/test-small/clauses/9.1/occurrences"
OWN_URL = "/api/v1/agreements/test-small/clauses/9.1/occurrences"
NO_SUCH = URL.replace("test-small", "no-such")


def test_coordinator_and_department_open_and_it_is_counted(live: Live, term_end: dt.date) -> None:
    today = today_in_shanghai()
    due = today + dt.timedelta(days=5)
    with live.client("coordinator") as chief:
        by_chief = chief.post(URL, json={"department": CHANGSHOU, "due_date": str(due), "reason": "两村土地纠纷"})
    with live.client("changshou") as changshou:
        by_department = changshou.post(OWN_URL, json={"reason": "群众来访"})
    assert (by_chief.status_code, by_department.status_code) == (201, 201), (by_chief.text, by_department.text)
    first, second = by_chief.json(), by_department.json()
    assert first["actor"].startswith(f"{COORDINATOR}（协调人令牌 #") and first["due_date"] == str(due)
    assert second["actor"].startswith(CHANGSHOU) and second["due_date"] == str(today + dt.timedelta(days=10))
    assert second["key"] == f"9.1@{today}#2" and second["department_id"] == live.departments[CHANGSHOU]
    assert [o.id for o in _opened(live.db_url)] == [first["occurrence_id"], second["occurrence_id"]]
    with session_scope(live.db_url) as s:
        events = s.execute(select(LedgerEvent).where(LedgerEvent.kind == EVENT_KIND)).scalars().all()
    assert [(e.occurrence_id, json.loads(e.payload)["reason"]) for e in events] == [
        (first["occurrence_id"], "两村土地纠纷"),
        (second["occurrence_id"], "群众来访"),
    ]

    with live.client("changshou") as changshou:
        mine = changshou.get("/api/v1/occurrences").json()
        reported = changshou.post(
            f"/api/v1/occurrences/{second['occurrence_id']}/reports",
            json={"outcome": "done", "metrics": {"cases": 1}},
        )
    assert {first["occurrence_id"], second["occurrence_id"]} <= {o["id"] for o in mine}
    assert reported.status_code == 201, reported.text
    with live.client("auditor") as auditor:
        rates = auditor.get("/api/v1/audit/rates", params={"clause": "9.1"}).json()
        verified = auditor.get("/api/v1/audit/verify").json()
    assert (rates["overall"]["total"], rates["overall"]["done_total"], rates["overall"]["open_not_due"]) == (2, 1, 1)
    assert verified["ok"] is True, verified


@pytest.mark.parametrize(
    ("who", "url", "body", "status", "fragment"),
    [
        ("yubei", OWN_URL, {"reason": "越权"}, 403, "不是协议 test-small 条款 9.1 的责任部门"),
        ("auditor", OWN_URL, {"reason": "只读"}, 403, "审计角色只读"),
        ("changshou", URL, {"department": CHANGSHOU, "reason": "冒充"}, 403, "需要角色：具名协调人"),
        ("coordinator", URL.replace("9.1", "1.1"), {"department": CHANGSHOU, "reason": "x"}, 422, "不是按需开展条款"),
        ("coordinator", URL.replace("9.1", "9.9"), {"department": CHANGSHOU, "reason": "x"}, 422, "没有（有效的）条款"),
        ("coordinator", URL, {"department": "长寿区/民政局", "reason": "x"}, 403, "未知部门"),
        ("coordinator", URL, {"department": CHANGSHOU, "reason": ""}, 422, "body.reason 太短"),
        ("coordinator", URL, {"department": CHANGSHOU, "reason": "x", "due_date": "2026/3/10"}, 422, "body.due_date"),
        ("coordinator", URL, {"department": CHANGSHOU, "reason": "x", "due_date": "2020-01-01"}, 422, "早于发起日"),
        ("changshou", OWN_URL, {"reason": "x", "due_date": "TERM_END+1"}, 422, "晚于协议期结束日"),
        ("coordinator", NO_SUCH, {"department": CHANGSHOU, "reason": "x"}, 422, "未知协议"),
    ],
)
def test_refusals_are_chinese_and_write_nothing(
    live: Live, term_end: dt.date, who: str, url: str, body: dict[str, str], status: int, fragment: str
) -> None:
    if body.get("due_date") == "TERM_END+1":
        body = {**body, "due_date": str(term_end + dt.timedelta(days=1))}
    before = counts(live.db_url)
    with live.client(who) as client:
        if who == "coordinator":
            before = counts(live.db_url)  # the named token's issue is ledgered on first use
        refused = client.post(url, json=body)
    assert refused.status_code == status, refused.text
    assert fragment in refused.json()["detail"]
    assert counts(live.db_url) == before and _opened(live.db_url) == []
