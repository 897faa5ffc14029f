"""Chinese text a coordinator reads: plan results and agreement summaries, as Markdown or plain text."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from coop.store.plans import PlanResult
from coop.store.status import AgreementSummary

WEEKDAYS = "一二三四五六日"
STATUS_LABELS = {
    "planned": "已计划",
    "due": "进行中",
    "done": "已完成",
    "overdue": "已逾期",
    "waived": "已豁免",
    "cancelled": "已取消",
}


def chinese_date(day: dt.date) -> str:
    return f"{day.year}年{day.month}月{day.day}日（周{WEEKDAYS[day.weekday()]}）"


def plan_result_markdown(result: PlanResult, title: str) -> str:
    if result.unchanged:
        head = f"### {title}\n\n协议未变化（第 {result.version} 版），本次未写入任何数据。\n"
        return head
    lines = [
        f"### {title}",
        "",
        f"第 {result.version} 版计划已写入：新增 **{result.created}** 项，调整 **{result.updated}** 项，"
        f"取消 **{result.cancelled}** 项，保留 **{result.kept}** 项。",
    ]
    if result.changes and (result.updated or result.cancelled):
        lines += ["", "| 变更 | 任务 | 说明 |", "|---|---|---|"]
        lines += [f"| {c['change']} | {c['key']} | {c['detail']} |" for c in result.changes if c["change"] != "新增"]
    return "\n".join(lines) + "\n"


def summary_markdown(summaries: Iterable[AgreementSummary]) -> str:
    parts = []
    for s in summaries:
        status = "，".join(f"{STATUS_LABELS.get(k, k)} {v}" for k, v in sorted(s.by_status.items()))
        parts += [
            f"## {s.title}",
            "",
            f"- 协议编号：`{s.id}`（第 {s.version} 版），期限 {s.term_start} 至 {s.term_end}",
            f"- 工程/专项 {s.programmes} 个，条款 {s.clauses} 条，任务 {s.occurrences} 项（{status}）",
            f"- 其中 {s.provisional} 项的日期依据暂定节假日安排（待国务院办公厅公布后自动重算）" if s.provisional else "- 所有日期均依据已公布的节假日安排",
            "",
            "| 截止日期 | 条款 | 任务 | 责任单位 | 承办方 | 状态 |",
            "|---|---|---|---|---|---|",
        ]
        for item in s.next_due:
            mark = "（暂定）" if item.provisional else ""
            parts.append(
                f"| {chinese_date(item.due_date)}{mark} | 第{item.clause}条 | {item.clause_title} | "
                f"{item.party}{item.department} | {item.host or '—'} | {STATUS_LABELS.get(item.status, item.status)} |"
            )
        if not s.next_due:
            parts.append("| — | — | 协议期内已无待办任务 | — | — | — |")
        parts.append("")
    return "\n".join(parts)
