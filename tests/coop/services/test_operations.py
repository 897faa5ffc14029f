"""Coordinator operations: each one's effect, its ledger event under the named coordinator, and who is refused."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from conftest import FIXTURES
from sqlalchemy import func, select

from coop.errors import CoopError, Forbidden, InvalidTransition, UnknownOccurrence
from coop.report import CompletionReport
from coop.services import operations
from coop.services.coordinators import (
    Coordinator,
    TokenRefused,
    coordinator_named,
    issue_coordinator_token,
    revoke_token,
)
from coop.services.notifications import queue_notifications
from coop.services.planning import plan_agreement
from coop.services.reports import record_report
from coop.services.sweep import sweep_statuses
from coop.settings import Settings
from coop.store.access import principal_for_token
from coop.store.occurrences import MAX_NOTE, resolve_department
from models.db import session_scope
from models.tables import LedgerEvent, Notice, Occurrence, OutboxMessage, Report, utcnow

PLAN_DAY = dt.date(2026, 3, 1)
YUBEI = "渝北区/区委社会工作部"
TUANQUWEI = "渝北区/团区委"
CHANGSHOU = "长寿区/区委社会工作部"


def _settings(db_url: str) -> Settings:
    return Settings(database_url=db_url, secret_key="test-secret-key-for-links-0123456789")  # type: ignore[arg-type]


def plan(db_url: str, path: Path = FIXTURES / "small.yaml") -> dict[str, int]:
    plan_agreement(db_url, path, PLAN_DAY, "测试", settings=_settings(db_url))
    with session_scope(db_url) as s:
        return {o.key: o.id for o in s.execute(select(Occurrence)).scalars() if o.id is not None}


@pytest.fixture
def planned(db_url: str) -> dict[str, int]:
    return plan(db_url)


@pytest.fixture
def chief(db_url: str, planned: dict[str, int]) -> Coordinator:
    """The first named coordinator, bootstrapped with the shared token."""
    issue_coordinator_token(db_url, "张协调", None)
    return coordinator_named(db_url, "张协调")


def occurrence(db_url: str, oid: int) -> Occurrence:
    with session_scope(db_url) as s:
        occ = s.get(Occurrence, oid)
        assert occ is not None
        return occ


def events(db_url: str, kind: str | None = None) -> list[LedgerEvent]:
    with session_scope(db_url) as s:
        query = select(LedgerEvent).order_by(LedgerEvent.id)
        if kind:
            query = query.where(LedgerEvent.kind == kind)
        return list(s.execute(query).scalars())


def ledger_count(db_url: str) -> int:
    with session_scope(db_url) as s:
        return s.execute(select(func.count()).select_from(LedgerEvent)).scalar_one()


def test_extend_moves_the_due_date_and_the_overdue_status_with_it(
    db_url: str, planned: dict[str, int], chief: Coordinator
) -> None:
    oid = planned["1.1@2026-03-31"]
    sweep_statuses(db_url, dt.date(2026, 4, 2), "测试")
    assert occurrence(db_url, oid).status == "overdue"
    result = operations.extend(db_url, chief, oid, dt.date(2026, 4, 30), "场地改造，推迟一个月", dt.date(2026, 4, 2))
    occ = occurrence(db_url, oid)
    assert (occ.due_date, occ.status, occ.planned_due_date) == (dt.date(2026, 4, 30), "due", dt.date(2026, 3, 31))
    [event] = events(db_url, "occurrence_extended")
    assert event.id == result.event_id and event.occurrence_id == oid
    assert event.actor == chief.actor == f"张协调（协调人令牌 #{chief.token_id}）"
    payload = json.loads(event.payload)
    assert payload["reason"] == "场地改造，推迟一个月"
    assert payload["before"]["due_date"] == "2026-03-31" and payload["after"]["due_date"] == "2026-04-30"
    with pytest.raises(CoopError, match="应晚于当前截止日期"):
        operations.extend(db_url, chief, oid, dt.date(2026, 4, 1), "提前", dt.date(2026, 4, 2))
    # The department hears of the change through its next digest.
    with session_scope(db_url) as s:
        kinds = [n.kind for n in s.execute(select(Notice).where(Notice.occurrence_id == oid)).scalars()]
    assert "changed" in kinds


def test_every_operation_needs_a_reason_and_a_refusal_writes_nothing(
    db_url: str, planned: dict[str, int], chief: Coordinator
) -> None:
    oid = planned["1.1@2026-06-30"]
    before = ledger_count(db_url)
    for name in ("suspend", "reopen", "waive", "cancel"):
        with pytest.raises(CoopError, match="必须说明理由"):
            operations.apply(db_url, chief, name, oid, "  ", today=PLAN_DAY)  # type: ignore[arg-type]
    with pytest.raises(CoopError, match="必须说明理由"):
        operations.extend(db_url, chief, oid, dt.date(2026, 9, 1), "")
    with pytest.raises(CoopError, match="必须说明理由"):
        operations.reassign(db_url, chief, oid, TUANQUWEI, "")
    assert ledger_count(db_url) == before
    assert occurrence(db_url, oid).status == "planned"


def test_suspended_task_is_neither_overdue_nor_escalated_and_resumes_with_its_clock_stopped(
    db_url: str, planned: dict[str, int], chief: Coordinator
) -> None:
    held, other = planned["1.1@2026-03-31"], planned["6.1@2026-03-10"]
    operations.suspend(db_url, chief, held, "汛期暂停下河活动", dt.date(2026, 3, 20))
    assert (occurrence(db_url, held).status, occurrence(db_url, held).suspended_on) == (
        "suspended",
        dt.date(2026, 3, 20),
    )
    late = dt.date(2026, 4, 30)
    sweep_statuses(db_url, late, "测试")
    queue_notifications(db_url, late, _settings(db_url))
    assert occurrence(db_url, held).status == "suspended"
    assert occurrence(db_url, other).status == "overdue"
    with session_scope(db_url) as s:
        told = {(n.occurrence_id, n.kind) for n in s.execute(select(Notice)).scalars()}
    assert (other, "escalation") in told
    assert not {kind for oid, kind in told if oid == held} - {"changed", "planned"}

    with pytest.raises(InvalidTransition, match="已暂停"):
        operations.suspend(db_url, chief, held, "再暂停", late)
    result = operations.resume(db_url, chief, held, "汛期结束", dt.date(2026, 5, 5))
    occ = occurrence(db_url, held)
    # 46 days suspended (3-20 → 5-5): the due date moves by as much, so it is not overdue on resuming.
    assert (occ.due_date, occ.status, occ.suspended_on) == (dt.date(2026, 5, 16), "due", None)
    assert result.status == "due"
    assert json.loads(events(db_url, "occurrence_resumed")[0].payload)["days_suspended"] == 46


def test_reopen_keeps_the_report_and_the_row(db_url: str, planned: dict[str, int], chief: Coordinator) -> None:
    oid = planned["1.1@2026-06-30"]
    record_report(db_url, CompletionReport(oid, YUBEI, "done", participants=60), YUBEI)
    with pytest.raises(InvalidTransition):
        operations.reopen(db_url, chief, planned["1.1@2026-09-30"], "未完成的任务不能重新打开", PLAN_DAY)
    operations.reopen(db_url, chief, oid, "佐证材料不全，请补充签到表", dt.date(2026, 6, 20))
    occ = occurrence(db_url, oid)
    assert (occ.status, occ.closed_at) == ("due", None)
    with session_scope(db_url) as s:
        assert s.execute(select(func.count()).where(Report.occurrence_id == oid)).scalar_one() == 1
        assert s.execute(select(func.count()).where(Occurrence.key == "1.1@2026-06-30")).scalar_one() == 1
    kinds = [e.kind for e in events(db_url) if e.occurrence_id == oid]
    assert kinds == ["occurrence_done", "occurrence_reopened"]


def test_reassign_within_the_agreement_only(db_url: str, planned: dict[str, int], chief: Coordinator) -> None:
    oid = planned["1.1@2026-09-30"]
    with session_scope(db_url) as s:
        yubei = s.get(Occurrence, oid).department_id  # type: ignore[union-attr]
    result = operations.reassign(db_url, chief, oid, TUANQUWEI, "团区委牵头本次培训")
    occ = occurrence(db_url, oid)
    assert occ.department_id == result.department_id != yubei and occ.planned_department_id == yubei
    payload = json.loads(events(db_url, "occurrence_reassigned")[0].payload)
    assert (payload["before"]["department"], payload["after"]["department"]) == (YUBEI, TUANQUWEI)
    with pytest.raises(Forbidden):
        operations.reassign(db_url, chief, oid, "渝中区/不存在", "无此部门")
    with pytest.raises(CoopError, match="已由"):
        operations.reassign(db_url, chief, oid, TUANQUWEI, "重复")


def test_waive_and_cancel_are_operations_too(db_url: str, planned: dict[str, int], chief: Coordinator) -> None:
    suspended = planned["1.1@2026-12-31"]
    operations.suspend(db_url, chief, suspended, "等待上级意见", PLAN_DAY)
    waived = operations.waive(db_url, chief, suspended, "上级同意豁免")
    cancelled = operations.cancel(db_url, chief, planned["1.1@2027-03-31"], "活动停办")
    assert (waived.status, cancelled.status) == ("waived", "cancelled")
    assert occurrence(db_url, suspended).suspended_on is None
    with pytest.raises(InvalidTransition):
        operations.cancel(db_url, chief, suspended, "再次")
    assert {e.actor for e in events(db_url) if e.kind in ("occurrence_waived", "occurrence_cancelled")} == {chief.actor}


def test_the_shared_token_bootstraps_only_the_first_coordinator(db_url: str, planned: dict[str, int]) -> None:
    first = issue_coordinator_token(db_url, "张协调", None)
    with pytest.raises(Forbidden, match="已有具名协调人"):
        issue_coordinator_token(db_url, "李冒名", None)
    chief = coordinator_named(db_url, "张协调")
    second = issue_coordinator_token(db_url, "李协调", chief, ttl_days=30)
    issued = events(db_url, "token_issued")
    assert [e.actor for e in issued] == ["COOP_COORDINATOR_TOKEN（初始协调人令牌）", chief.actor]
    assert [json.loads(e.payload)["token_id"] for e in issued] == [first.id, second.id]
    assert first.token not in "".join(e.payload for e in issued)
    with session_scope(db_url) as s:
        principal = principal_for_token(s, second.token)
    assert principal is not None and principal.person == "李协调" and principal.actor.startswith("李协调（")


def test_revoked_and_expired_tokens_are_refused(db_url: str, planned: dict[str, int], chief: Coordinator) -> None:
    oid = planned["1.1@2026-06-30"]
    deputy_token = issue_coordinator_token(db_url, "李协调", chief)
    deputy = coordinator_named(db_url, "李协调")
    revoke_token(db_url, deputy.token_id, "调离岗位", chief)
    [revoked] = events(db_url, "token_revoked")
    assert revoked.actor == chief.actor and json.loads(revoked.payload)["reason"] == "调离岗位"
    with pytest.raises(TokenRefused, match="已撤销"):
        operations.suspend(db_url, deputy, oid, "撤销后不能操作", PLAN_DAY)
    with pytest.raises(TokenRefused):
        coordinator_named(db_url, "李协调")
    with session_scope(db_url) as s:
        assert principal_for_token(s, deputy_token.token) is None

    long_ago = utcnow() - dt.timedelta(days=40)
    stale_token = issue_coordinator_token(db_url, "王过期", chief, ttl_days=30, now=long_ago)
    with session_scope(db_url) as s:
        assert principal_for_token(s, stale_token.token) is None
    stale = Coordinator(stale_token.id, "王过期")
    with pytest.raises(TokenRefused, match="过期"):
        operations.suspend(db_url, stale, oid, "过期后不能操作", PLAN_DAY)
    assert occurrence(db_url, oid).status == "planned"


def test_a_coordinator_limited_to_one_agreement_is_refused_on_another(
    db_url: str, planned: dict[str, int], chief: Coordinator, tmp_path: Path
) -> None:
    other_file = tmp_path / "other.yaml"
    text = (FIXTURES / "small.yaml").read_text(encoding="utf-8")
    other_file.write_text(text.replace("id: test-small", "id: test-other", 1), encoding="utf-8")
    plan(db_url, other_file)
    with session_scope(db_url) as s:
        theirs = s.execute(
            select(Occurrence.id).where(Occurrence.agreement_id == "test-other", Occurrence.key == "1.1@2026-06-30")
        ).scalar_one()
    issue_coordinator_token(db_url, "赵专员", chief, agreements=["test-small"])
    limited = coordinator_named(db_url, "赵专员")
    assert limited.agreements == {"test-small"}
    operations.suspend(db_url, limited, planned["1.1@2026-06-30"], "本协议内可以操作", PLAN_DAY)
    before = ledger_count(db_url)
    with pytest.raises(TokenRefused, match="只负责协议 test-small"):
        operations.suspend(db_url, limited, theirs, "越权", PLAN_DAY)
    with pytest.raises(Forbidden, match="只能签发限于这些协议的令牌"):
        issue_coordinator_token(db_url, "钱越权", limited)
    with pytest.raises(Forbidden):
        revoke_token(db_url, chief.token_id, "越权撤销", limited)
    assert ledger_count(db_url) == before
    assert occurrence(db_url, theirs).status == "planned"


def test_the_departments_digest_tells_each_decision_with_its_reason_and_coordinator(
    db_url: str, planned: dict[str, int], chief: Coordinator
) -> None:

    moved, held = planned["1.1@2026-03-31"], planned["1.1@2026-06-30"]
    day = dt.date(2026, 3, 2)
    queue_notifications(db_url, day, _settings(db_url))  # the plan's own notices go out first
    with session_scope(db_url) as s:
        sent = {m.id for m in s.execute(select(OutboxMessage)).scalars()}
    operations.extend(db_url, chief, moved, dt.date(2026, 4, 30), "场地改造，推迟一个月", day)
    operations.suspend(db_url, chief, held, "汛期暂停下河活动", day)
    operations.reassign(db_url, chief, planned["1.1@2026-09-30"], TUANQUWEI, "团区委牵头青年培训")
    queue_notifications(db_url, day, _settings(db_url))
    with session_scope(db_url) as s:
        bodies = [m.body for m in s.execute(select(OutboxMessage)).scalars() if m.id not in sent]
    [body] = bodies
    assert "延期至 2026-04-30（原截止 2026-03-31；原因：场地改造，推迟一个月；协调人：张协调）" in body
    assert "暂停办理，暂停期间不计逾期、不督办（原因：汛期暂停下河活动；协调人：张协调）" in body
    # The department that no longer owes the reassigned task is told so, with the reason.
    assert "改派：由 渝北区区委社会工作部 改由 渝北区团区委 负责（原因：团区委牵头青年培训；协调人：张协调）" in body
    assert "贵单位无需再办理" in body


def test_apply_runs_the_operation_it_names_with_its_date_department_and_day(
    db_url: str, planned: dict[str, int], chief: Coordinator
) -> None:
    """The Prefect flow's single entry: each name reaches its operation with every argument it needs."""
    first, second, third = planned["1.1@2026-03-31"], planned["1.1@2026-06-30"], planned["1.1@2026-09-30"]
    fourth, fifth = planned["1.1@2026-12-31"], planned["1.1@2027-03-31"]
    day = dt.date(2026, 3, 20)

    def refused(*args: object, **kwargs: object) -> str:
        with pytest.raises(CoopError) as exc:
            operations.apply(db_url, chief, *args, **kwargs)  # type: ignore[arg-type]
        return str(exc.value)

    assert refused("extend", first, "推迟", today=day) == "延期必须给出新的截止日期 (extend needs a new due date)"
    assert (
        refused("reassign", fourth, "换人", today=day) == "改派必须给出新的责任部门 (reassign needs the new department)"
    )
    assert refused("archive", first, "归档", today=day) == "未知操作 archive (unknown operation)"

    assert refused("suspend", first, " ", today=day) == "暂停必须说明理由 (a reason is required)"

    def done(*args: object, **kwargs: object) -> tuple[str, int, str, dt.date]:
        r = operations.apply(db_url, chief, *args, **kwargs)  # type: ignore[arg-type]
        assert r.actor == chief.actor
        return (r.operation, r.occurrence_id, r.status, r.due_date)

    assert done("extend", first, "场地改造", due_date=dt.date(2026, 4, 30), today=day) == (
        "extend",
        first,
        "due",
        dt.date(2026, 4, 30),
    )
    assert done("suspend", second, "汛期", today=day) == ("suspend", second, "suspended", dt.date(2026, 6, 30))
    assert occurrence(db_url, second).suspended_on == day
    assert done("resume", second, "汛期结束", due_date=dt.date(2026, 7, 15), today=dt.date(2026, 4, 1)) == (
        "resume",
        second,
        "planned",
        dt.date(2026, 7, 15),
    )
    record_report(db_url, CompletionReport(third, YUBEI, "done", participants=30), YUBEI)
    assert done("reopen", third, "材料不全", today=dt.date(2026, 9, 20)) == (
        "reopen",
        third,
        "due",
        dt.date(2026, 9, 30),
    )
    with session_scope(db_url) as s:
        tuanquwei = s.get(Occurrence, planned["6.1@2026-03-10"]).department_id  # type: ignore[union-attr]
    reassigned = operations.apply(db_url, chief, "reassign", fourth, "团区委牵头", department=TUANQUWEI)
    assert (reassigned.operation, reassigned.department_id) == ("reassign", tuanquwei)
    assert done("waive", fourth, "同意豁免") == ("waive", fourth, "waived", dt.date(2026, 12, 31))
    assert done("cancel", fifth, "停办") == ("cancel", fifth, "cancelled", dt.date(2027, 3, 31))
    assert {e.agreement_id for e in events(db_url) if e.actor == chief.actor} == {"test-small"}
    assert [e.kind for e in events(db_url) if e.actor == chief.actor] == [
        "occurrence_extended",
        "occurrence_suspended",
        "occurrence_resumed",
        "occurrence_reopened",
        "occurrence_reassigned",
        "occurrence_waived",
        "occurrence_cancelled",
    ]


def test_the_ledger_records_what_reopening_waiving_and_cancelling_changed_and_why(
    db_url: str, planned: dict[str, int], chief: Coordinator
) -> None:
    reopened, waived, cancelled = planned["1.1@2026-06-30"], planned["1.1@2026-12-31"], planned["1.1@2027-03-31"]
    record_report(db_url, CompletionReport(reopened, YUBEI, "done", participants=60), YUBEI)
    closed_at = occurrence(db_url, reopened).closed_at
    assert closed_at is not None

    def notices(oid: int) -> list[str]:
        with session_scope(db_url) as s:
            return [n.kind for n in s.execute(select(Notice).where(Notice.occurrence_id == oid)).scalars()]

    told = notices(reopened)
    operations.reopen(db_url, chief, reopened, "佐证材料不全", dt.date(2026, 6, 20))
    assert sorted(notices(reopened)) == sorted([*told, "changed"])  # the department hears it is open again
    operations.suspend(db_url, chief, waived, "等待上级意见", PLAN_DAY)
    operations.waive(db_url, chief, waived, "上级同意豁免")
    operations.cancel(db_url, chief, cancelled, "活动停办")
    payloads = {e.kind: json.loads(e.payload) for e in events(db_url) if e.actor == chief.actor}
    assert payloads["occurrence_reopened"] == {
        "operation": "reopen",
        "reason": "佐证材料不全",
        "before": {"status": "done", "closed_at": closed_at.isoformat()},
        "after": {"status": "due", "due_date": "2026-06-30"},
    }
    assert payloads["occurrence_waived"] == {
        "operation": "waive",
        "reason": "上级同意豁免",
        "previous_status": "suspended",
        "key": "1.1@2026-12-31",
    }
    assert payloads["occurrence_cancelled"] == {
        "operation": "cancel",
        "reason": "活动停办",
        "previous_status": "planned",
        "key": "1.1@2027-03-31",
    }


def test_resume_on_the_day_of_suspending_keeps_the_date_and_the_ledger_says_from_what(
    db_url: str, planned: dict[str, int], chief: Coordinator
) -> None:
    oid = planned["1.1@2026-06-30"]
    with pytest.raises(InvalidTransition) as exc:
        operations.resume(db_url, chief, oid, "未暂停", PLAN_DAY)
    assert str(exc.value) == f"任务 #{oid} 当前状态为“已计划”，不能恢复 (cannot resume an occurrence that is planned)"
    operations.suspend(db_url, chief, oid, "等待场地", PLAN_DAY)
    result = operations.resume(db_url, chief, oid, "场地已定", PLAN_DAY)
    assert (result.due_date, occurrence(db_url, oid).planned_due_date) == (dt.date(2026, 6, 30), None)
    [suspended] = events(db_url, "occurrence_suspended")
    assert json.loads(suspended.payload) == {
        "operation": "suspend",
        "reason": "等待场地",
        "before": {"status": "planned", "due_date": "2026-06-30"},
        "after": {"status": "suspended", "since": "2026-03-01"},
    }
    [event] = events(db_url, "occurrence_resumed")
    assert json.loads(event.payload) == {
        "operation": "resume",
        "reason": "场地已定",
        "before": {"status": "suspended", "since": "2026-03-01", "due_date": "2026-06-30"},
        "after": {"status": "planned", "due_date": "2026-06-30"},
        "days_suspended": 0,
    }


def test_resume_may_set_the_due_date_to_the_window_start_but_not_before_it(
    db_url: str, planned: dict[str, int], chief: Coordinator
) -> None:
    oid = planned["1.1@2026-06-30"]
    opens = occurrence(db_url, oid).window_start
    operations.suspend(db_url, chief, oid, "等待场地", PLAN_DAY)
    day_before = opens - dt.timedelta(days=1)
    with pytest.raises(CoopError) as exc:
        operations.resume(db_url, chief, oid, "提前", PLAN_DAY, due_date=day_before)
    assert str(exc.value) == f"新的截止日期 {day_before} 早于办理期开始 {opens} (due date before the window)"
    assert operations.resume(db_url, chief, oid, "提前到开放日", PLAN_DAY, due_date=opens).due_date == opens
    assert occurrence(db_url, oid).planned_due_date == dt.date(2026, 6, 30)  # what the plan said stays on record
    with session_scope(db_url) as s:
        kinds = [n.kind for n in s.execute(select(Notice).where(Notice.occurrence_id == oid)).scalars()]
    assert kinds.count("changed") == 2  # the department hears of the suspension and of the resumption


def test_a_closed_task_cannot_be_reassigned(db_url: str, planned: dict[str, int], chief: Coordinator) -> None:
    oid = planned["1.1@2027-03-31"]
    operations.cancel(db_url, chief, oid, "活动停办")
    with pytest.raises(InvalidTransition) as exc:
        operations.reassign(db_url, chief, oid, TUANQUWEI, "改派已取消的任务")
    assert str(exc.value) == (
        f"任务 #{oid} 当前状态为“已取消”，不能改派 (cannot reassign an occurrence that is cancelled)"
    )


def test_a_task_moves_only_to_a_department_of_the_same_agreements_parties(
    db_url: str, planned: dict[str, int], chief: Coordinator, tmp_path: Path
) -> None:
    other_file = tmp_path / "other.yaml"
    text = (FIXTURES / "small.yaml").read_text(encoding="utf-8").replace("id: test-small", "id: test-other", 1)
    other_file.write_text(text.replace("广安市", "渝中区").replace("市委社会工作部", "区委办公室"), encoding="utf-8")
    plan(db_url, other_file)
    oid = planned["1.1@2026-09-30"]
    with session_scope(db_url) as s:
        outsider = set(
            s.execute(select(Occurrence.department_id).where(Occurrence.agreement_id == "test-other")).scalars()
        )
        yuzhong = resolve_department(s, "渝中区/区委办公室").id
    assert yuzhong in outsider
    with pytest.raises(CoopError) as exc:
        operations.reassign(db_url, chief, oid, str(yuzhong), "改派到别的协议")
    assert str(exc.value) == (
        f"{yuzhong} 不是协议 test-small 的签约方的部门，不能改派 "
        "(a task moves only between departments of the same agreement's parties)"
    )

    def notices() -> list[tuple[int, str]]:
        with session_scope(db_url) as s:
            rows = s.execute(select(Notice).where(Notice.occurrence_id == oid)).scalars()
            return sorted((n.department_id, n.kind) for n in rows)

    told = notices()
    operations.reassign(db_url, chief, oid, TUANQUWEI, "团区委牵头")
    occ = occurrence(db_url, oid)
    # the new department is told it owes the task, the old one that it no longer does
    assert notices() == sorted([*told, (occ.department_id, "planned"), (occ.planned_department_id, "cancelled")])
    [event] = events(db_url, "occurrence_reassigned")
    assert json.loads(event.payload) == {
        "operation": "reassign",
        "reason": "团区委牵头",
        "before": {"department_id": occ.planned_department_id, "department": YUBEI},
        "after": {"department_id": occ.department_id, "department": TUANQUWEI},
    }


def test_an_extension_must_move_the_due_date_later_and_a_closed_task_cannot_be_extended(
    db_url: str, planned: dict[str, int], chief: Coordinator
) -> None:
    oid = planned["1.1@2026-06-30"]
    with pytest.raises(CoopError) as exc:
        operations.extend(db_url, chief, oid, dt.date(2026, 6, 30), "同一天", PLAN_DAY)
    assert str(exc.value) == (
        "新的截止日期 2026-06-30 应晚于当前截止日期 2026-06-30 (an extension moves the due date later)"
    )
    operations.cancel(db_url, chief, oid, "活动停办")
    with pytest.raises(InvalidTransition) as closed:
        operations.extend(db_url, chief, oid, dt.date(2026, 7, 30), "延期已取消的任务", PLAN_DAY)
    assert (
        str(closed.value) == f"任务 #{oid} 当前状态为“已取消”，不能延期 (cannot extend an occurrence that is cancelled)"
    )


def test_a_new_due_date_must_fall_in_2000_to_2100_and_the_ledger_says_what_an_extension_moved(
    db_url: str, planned: dict[str, int], chief: Coordinator
) -> None:
    oid = planned["1.1@2026-06-30"]
    opens = occurrence(db_url, oid).window_start

    def refused(call: object, *args: object, **kwargs: object) -> str:
        with pytest.raises(CoopError) as exc:
            call(db_url, chief, oid, *args, **kwargs)  # type: ignore[operator]
        return str(exc.value)

    operations.suspend(db_url, chief, oid, "等待场地", PLAN_DAY)
    assert refused(operations.resume, "回到上世纪", PLAN_DAY, due_date=dt.date(1999, 12, 31)) == (
        "截止日期 1999-12-31 不合理，应在 2100-12-31 之前 (due date out of range)"
    )
    # 2000 is in range: refused only because the window opens later
    assert refused(operations.resume, "二〇〇〇年", PLAN_DAY, due_date=dt.date(2000, 1, 1)) == (
        f"新的截止日期 2000-01-01 早于办理期开始 {opens} (due date before the window)"
    )
    operations.resume(db_url, chief, oid, "场地已定", PLAN_DAY)
    assert refused(operations.extend, dt.date(2101, 1, 1), "下个世纪", PLAN_DAY) == (
        "截止日期 2101-01-01 不合理，应在 2100-12-31 之前 (due date out of range)"
    )
    assert operations.extend(db_url, chief, oid, dt.date(2100, 12, 31), "世纪末", PLAN_DAY).due_date == dt.date(
        2100, 12, 31
    )
    [event] = events(db_url, "occurrence_extended")
    assert json.loads(event.payload) == {
        "operation": "extend",
        "reason": "世纪末",
        "before": {"due_date": "2026-06-30", "status": "planned"},
        "after": {"due_date": "2100-12-31", "status": "planned"},
    }


def test_a_reason_may_be_as_long_as_a_note_but_not_longer_nor_hold_a_control_character(
    db_url: str, planned: dict[str, int], chief: Coordinator
) -> None:
    oid = planned["1.1@2026-06-30"]
    refusal = f"理由不能超过 {MAX_NOTE} 字，且不能含控制字符 (reason too long or contains NUL)"
    for reason in ("理" * (MAX_NOTE + 1), "含\x00字符"):
        with pytest.raises(CoopError) as exc:
            operations.suspend(db_url, chief, oid, reason, PLAN_DAY)
        assert str(exc.value) == refusal
    assert operations.suspend(db_url, chief, oid, "理" * MAX_NOTE, PLAN_DAY).status == "suspended"


def test_an_operation_on_an_unknown_task_names_the_id_and_writes_nothing(
    db_url: str, planned: dict[str, int], chief: Coordinator
) -> None:
    unknown = max(planned.values()) + 1000

    def written() -> tuple[int, ...]:
        with session_scope(db_url) as s:
            return tuple(
                s.execute(select(func.count()).select_from(table)).scalar_one()
                for table in (LedgerEvent, Notice, OutboxMessage, Occurrence)
            )

    before = written()
    calls: dict[str, dict[str, object]] = {
        "extend": {"due_date": dt.date(2026, 9, 1)},
        "suspend": {},
        "resume": {},
        "reopen": {},
        "reassign": {"department": TUANQUWEI},
        "waive": {},
        "cancel": {},
    }
    for name, extra in calls.items():
        with pytest.raises(UnknownOccurrence) as exc:
            operations.apply(db_url, chief, name, unknown, "核对", today=PLAN_DAY, **extra)  # type: ignore[arg-type]
        assert str(exc.value) == f"找不到任务 #{unknown} (unknown occurrence id {unknown})", name
        assert exc.value.occurrence_id == unknown
    assert written() == before
