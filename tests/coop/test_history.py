"""Ledger events told as Chinese sentences: one per kind the code writes, with who, when, what and evidence."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from coop.history import TOLD_KINDS, event_sentence, event_text, local_time
from coop.labels import EVENT_LABELS
from coop.services.on_demand import EVENT_KIND as OPENED
from coop.services.operations import EVENT_KINDS

SHANGHAI = ZoneInfo("Asia/Shanghai")
ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Event:
    kind: str
    payload: dict[str, Any]
    actor: str = "协调人 王五"
    at: dt.datetime = dt.datetime(2026, 3, 2, 1, 14)  # naive = UTC, as SQLite returns it
    evidence: list[str] = field(default_factory=list)


def written_kinds() -> set[str]:
    """Every event kind a module passes to the ledger as a literal, plus the operations' and on-demand kinds."""
    literal = re.compile(r'EventDraft\(\s*"(\w+)"|kind="(\w+)"|event\("(\w+)"|"(occurrence_(?!ids?")\w+)"')
    found: set[str] = set()
    for path in [*ROOT.joinpath("coop", "store").rglob("*.py"), *ROOT.joinpath("coop", "services").rglob("*.py")]:
        for match in literal.finditer(path.read_text(encoding="utf-8")):
            found |= {g for g in match.groups() if g}
    return found | set(EVENT_KINDS.values()) | {OPENED}


def test_every_kind_the_ledger_holds_has_a_sentence() -> None:
    # A kind without its own sentence would show only its label; the dashboard and `coop audit history` need all.
    assert written_kinds() - TOLD_KINDS == set()
    assert set(EVENT_LABELS) <= TOLD_KINDS


def test_a_report_says_when_who_what_and_how_much_evidence() -> None:
    event = Event(
        "occurrence_done",
        {
            "outcome": "done",
            "participants": 35,
            "metrics": {"participants": 35, "sessions": 2},
            "note": None,
            "due_date": "2026-03-31",
            "on_time": True,
        },
        actor="南岸区/民政局 王五",
        evidence=["sha256:" + "a" * 64, "https://x.cn/1.jpg"],
    )
    assert event_sentence(event, SHANGHAI) == (
        "2026-03-02 09:14 南岸区/民政局 王五 提交完成报告：已完成，参与人数 35，场次 2，按时完成，证据 2 份"
    )
    # An agreement's own metric names win (`metric_labels:`).
    assert "培训人次 35" in event_sentence(event, SHANGHAI, {"participants": "培训人次"})


def test_sentences_of_each_kind() -> None:
    cases: list[tuple[str, dict[str, Any], str]] = [
        (
            "agreement_planned",
            {
                "version": 2,
                "created": 3,
                "cancelled": 1,
                "occurrences": 14,
                "amendment": "补充协议一",
                "effective_from": "2026-04-01",
            },
            "生成协议计划第 2 版（依据补充协议 补充协议一，自 2026-04-01 起生效）：新建 3 项、取消 1 项；共 14 项任务",
        ),
        (
            "occurrence_replanned",
            {
                "version": 2,
                "before": {"due_date": "2026-03-31", "host": "渝北区", "party": "渝北区", "department": "团区委"},
                "after": {"due_date": "2026-04-30", "host": "长寿区", "party": "渝北区", "department": "团区委"},
            },
            "随协议第 2 版调整任务：截止日期 2026-03-31 → 2026-04-30；承办方 渝北区 → 长寿区",
        ),
        (
            "occurrence_cancelled",
            {"version": 3, "reason": "条款删除", "key": "k"},
            "随协议第 3 版修订取消任务，理由：条款删除",
        ),
        (
            "occurrence_cancelled",
            {"operation": "cancel", "reason": "活动取消", "previous_status": "due"},
            "取消任务（原状态：进行中），理由：活动取消",
        ),
        (
            "occurrence_waived",
            {"reason": "并入市级活动", "previous_status": "overdue"},
            "豁免任务（原状态：已逾期），理由：并入市级活动",
        ),
        (
            "occurrence_part_done",
            {"outcome": "done", "part": "长寿区", "parts_done": ["长寿区"], "parts_required": ["渝北区", "长寿区"]},
            "提交完成报告（联合任务中长寿区的部分）：已完成；已交 1/2 方，任务尚未办结",
        ),
        (
            "occurrence_progress",
            {"outcome": "partial", "metrics": {"suggestions": 7}, "note": "已收集7条"},
            "报告进展：部分完成，建议条数 7，说明：已收集7条",
        ),
        (
            "occurrence_cannot_do",
            {"outcome": "cannot", "note": "场地不可用"},
            "报告无法完成：无法完成，说明：场地不可用",
        ),
        (
            "occurrence_done",
            {
                "outcome": "done",
                "backfill": True,
                "source": "渝北台账.xlsx",
                "row": 3,
                "completed_on": "2025-12-28",
                "participants": 40,
                "metrics": {},
                "on_time": False,
                "due_date": "2025-12-26",
            },
            "补录完成情况（2025-12-28 完成，来源 渝北台账.xlsx第 3 行）：已完成，参与人数 40，晚于截止日期 2025-12-26",
        ),
        ("sweep_due", {"today": "2026-03-02", "occurrence_ids": [4]}, "每日状态更新（2026-03-02）：任务 #4 进入办理期"),
        (
            "sweep_overdue",
            {"today": "2026-03-02", "occurrence_ids": [4, 5]},
            "每日状态更新（2026-03-02）：任务 #4、#5 已过截止日期，记为逾期",
        ),
        (
            "occurrence_extended",
            {
                "operation": "extend",
                "reason": "场地改造",
                "before": {"due_date": "2026-03-31"},
                "after": {"due_date": "2026-07-31"},
            },
            "延期：截止日期 2026-03-31 → 2026-07-31，理由：场地改造",
        ),
        (
            "occurrence_suspended",
            {"reason": "等待批复", "after": {"status": "suspended", "since": "2026-03-02"}},
            "暂停任务（自 2026-03-02 起停止计算逾期），理由：等待批复",
        ),
        (
            "occurrence_resumed",
            {
                "reason": "已批复",
                "before": {"due_date": "2026-03-31"},
                "after": {"status": "due", "due_date": "2026-04-10"},
                "days_suspended": 10,
            },
            "暂停 10 天后恢复任务，截止日期 2026-03-31 → 2026-04-10，状态：进行中，理由：已批复",
        ),
        (
            "occurrence_reopened",
            {
                "reason": "材料不全",
                "before": {"status": "done", "closed_at": "2026-03-01T02:00:00+00:00"},
                "after": {"status": "overdue"},
            },
            "重新打开已完成任务（原于 2026-03-01 办结），状态：已逾期，理由：材料不全",
        ),
        (
            "occurrence_reassigned",
            {
                "reason": "职能调整",
                "before": {"department": "渝北区/团区委"},
                "after": {"department": "渝北区/区委社会工作部"},
            },
            "改派责任部门：渝北区/团区委 → 渝北区/区委社会工作部，理由：职能调整",
        ),
        (
            "occurrence_opened",
            {
                "clause": "2.1",
                "department": "渝北区/团区委",
                "window_start": "2026-03-02",
                "due_date": "2026-03-31",
                "reason": "临时调研",
            },
            "按需开启第2.1条任务，由 渝北区/团区委 办理，办理期 2026-03-02 至 2026-03-31，理由：临时调研",
        ),
        (
            "token_issued",
            {
                "token_id": 7,
                "role": "coordinator",
                "person": "张协调",
                "agreements": ["test-small"],
                "expires_at": "2026-06-30T00:00:00+00:00",
            },
            "签发具名协调人令牌 #7：张协调，限协议 test-small，有效期至 2026-06-30",
        ),
        (
            "token_revoked",
            {"token_id": 7, "role": "auditor", "label": "审计 张三", "reason": "离职"},
            "撤销审计令牌 #7：审计 张三，理由：离职",
        ),
        (
            "calendar_feed_issued",
            {"scope": "渝北区/团区委", "version": 1},
            "签发日历订阅链接：渝北区/团区委（第 1 版）",
        ),
        (
            "calendar_feed_revoked",
            {"scope": "渝北区/团区委", "revoked_version": 1, "version": 2, "reason": "链接外泄"},
            "撤销日历订阅链接：渝北区/团区委（第 1 版起失效，现为第 2 版），理由：链接外泄",
        ),
        ("outbox_requeued", {"outbox_ids": [1, 2], "count": 2}, "重新发送 2 条死信通知"),
        (
            "occurrence_untracked",
            {"tracking_from": "2026-01-01"},
            "列为不跟踪的历史记录（跟踪起始日 2026-01-01）：不算逾期、不督办、不计入完成率",
        ),
        ("occurrence_tracked", {"reason": "恢复"}, "恢复跟踪，理由：恢复"),
    ]
    for kind, payload, expected in cases:
        assert event_text(kind, payload, []) == expected, kind
    assert {kind for kind, _, _ in cases} | {"occurrence_restored"} == TOLD_KINDS


def test_unknown_kinds_and_odd_payloads_never_break_a_history() -> None:
    assert event_text("something_new", {"x": 1}, ["https://x.cn"]) == "something_new，证据 1 份"
    for kind in TOLD_KINDS:
        assert event_text(kind, {}, []), kind  # an empty payload still gives a sentence
    many = event_text("sweep_overdue", {"today": "2026-03-02", "occurrence_ids": list(range(1, 13))}, [])
    assert "#10 等 12 项" in many and "#11" not in many


def test_times_are_on_the_deployments_clock() -> None:
    assert local_time(dt.datetime(2026, 3, 1, 16, 30), SHANGHAI) == "2026-03-02 00:30"
    assert local_time(dt.datetime(2026, 3, 1, 16, 30, tzinfo=dt.UTC), ZoneInfo("UTC")) == "2026-03-01 16:30"
