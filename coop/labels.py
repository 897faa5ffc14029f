"""Chinese labels people read for stored codes: occurrence statuses, report outcomes, metrics, ledger events.

One table per code; the CLI, the web pages, the Markdown reports and the artifacts all read these.
An unknown code is shown as itself (the `*_label` helpers), so a new code never breaks a page.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Final

STATUS_LABELS: Final[dict[str, str]] = {
    "planned": "已计划",
    "due": "进行中",
    "done": "已完成",
    "overdue": "已逾期",
    "waived": "已豁免",
    "cancelled": "已取消",
    "suspended": "已暂停",
    "untracked": "不跟踪（历史）",
}

OUTCOME_LABELS: Final[dict[str, str]] = {"done": "已完成", "partial": "部分完成", "cannot": "无法完成"}

# The one table of metric names (issue 14: participants was 参与人数 in one place and 参加人数 in another, and
# notifications showed raw English). An agreement may name its own metrics (`metric_labels:`), which win.
METRIC_LABELS: Final[dict[str, str]] = {
    "participants": "参与人数",
    "attendees": "参会人数",
    "volunteers": "志愿者人数",
    "social_workers": "社工人数",
    "students": "学生人数",
    "interns": "实习学生数",
    "researchers": "研究人员数",
    "suggestions": "建议条数",
    "reports": "报告篇数",
    "cases": "案例数",
    "projects": "项目数",
    "brand_projects": "品牌项目数",
    "enterprises": "企业数",
    "communities": "社区数",
    "cities": "城市数",
    "counties": "县区数",
    "community_questionnaires": "社区问卷数",
    "resident_questionnaires": "居民问卷数",
    "symposiums": "座谈会场次",
    "events": "活动场次",
    "sessions": "场次",
    "visits": "走访次数",
    "visit_points": "观摩点数",
}

# Ledger event kinds as an occurrence's history shows them.
EVENT_LABELS: Final[dict[str, str]] = {
    "agreement_planned": "协议计划生成",
    "occurrence_replanned": "任务时间或承办方调整",
    "occurrence_cancelled": "任务取消",
    "occurrence_done": "报告已完成",
    "occurrence_part_done": "联合办结：一方报告本方部分已完成",
    "occurrence_progress": "报告进展（部分完成）",
    "occurrence_cannot_do": "报告无法完成",
    "occurrence_waived": "任务豁免",
    "sweep_due": "进入办理期",
    "sweep_overdue": "逾期",
    "occurrence_extended": "协调人延期",
    "occurrence_suspended": "协调人暂停（停止计算逾期）",
    "occurrence_resumed": "协调人恢复",
    "occurrence_reopened": "协调人重新打开已完成任务",
    "occurrence_reassigned": "协调人改派责任部门",
    "occurrence_restored": "协议修订后任务恢复",
    "occurrence_untracked": "早于跟踪起始日，作为历史记录不再跟踪",
    "occurrence_tracked": "恢复跟踪",
    "occurrence_opened": "协调人按需开启任务",
    "token_issued": "签发令牌",
    "token_revoked": "撤销令牌",
    "calendar_feed_issued": "签发日历订阅",
    "calendar_feed_revoked": "撤销日历订阅",
    "outbox_requeued": "死信重新发送",
}


def status_label(status: str) -> str:
    """The Chinese label of an occurrence status; an unknown status as itself."""
    return STATUS_LABELS.get(status, status)


def outcome_label(outcome: str) -> str:
    """The Chinese label of a report outcome; an unknown outcome as itself."""
    return OUTCOME_LABELS.get(outcome, outcome)


def metric_label(metric: str, labels: Mapping[str, str] | None = None) -> str:
    """The Chinese label of a metric: the agreement's own (`metric_labels:`), else the table's, else itself."""
    if labels and metric in labels:
        return labels[metric]
    return METRIC_LABELS.get(metric, metric)


def metric_labels(labels: Mapping[str, str] | None = None) -> dict[str, str]:
    """The whole table with an agreement's own labels laid over it (for pages that look names up themselves)."""
    return {**METRIC_LABELS, **(labels or {})}


def event_label(kind: str) -> str:
    """The Chinese label of a ledger event kind; an unknown kind as itself."""
    return EVENT_LABELS.get(kind, kind)


WEEKDAYS: Final = "一二三四五六日"


def chinese_date(day: dt.date) -> str:
    """2026年3月2日（周一）: how dates read in messages, artifacts and tables."""
    return f"{day.year}年{day.month}月{day.day}日（周{WEEKDAYS[day.weekday()]}）"


OUTBOX_STATUS_LABELS: Final[dict[str, str]] = {
    "pending": "待发送",
    "sending": "发送中",
    "sent": "已发送",
    "dead": "死信",
}
