"""Audit arithmetic and its Chinese report: rates, overdue lists and target progress from occurrence states.

Definitions (the same for the CLI, the API and the `audit-report` flow):
- *应完成* (expected): not waived or cancelled, and the due date has passed (due_date < as-of day);
- *完成率* = done among expected / expected; *按时率* = done on or before the due date among expected / expected;
- *逾期* = expected but not done; early completions of not-yet-due items are counted in `done_total`.
"""

from __future__ import annotations

import datetime as dt
import heapq
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from coop.summary import STATUS_LABELS, chinese_date

GroupBy = Literal["agreement", "programme", "party", "department", "month", "quarter", "year"]
GROUP_LABELS: dict[str, str] = {
    "agreement": "协议",
    "programme": "工程",
    "party": "单位",
    "department": "部门",
    "month": "月份",
    "quarter": "季度",
    "year": "年度",
}

METRIC_LABELS = {
    "participants": "参加人数",
    "volunteers": "志愿者人数",
    "social_workers": "社工人数",
    "suggestions": "建议条数",
    "reports": "报告篇数",
    "cases": "案例数",
    "enterprises": "企业数",
    "communities": "社区数",
    "community_questionnaires": "社区问卷数",
    "resident_questionnaires": "居民问卷数",
    "symposiums": "座谈会场次",
    "counties": "县区数",
    "visit_points": "观摩点数",
    "interns": "实习学生数",
    "researchers": "研究人员数",
}


def group_key(state: Any, by: GroupBy) -> str:
    """The group an occurrence state falls in; periods group by due date."""
    if by == "agreement":
        return str(state.agreement_id)
    if by == "programme":
        return f"{state.agreement_id} / {state.programme}"
    if by == "party":
        return str(state.party)
    if by == "department":
        return f"{state.party}/{state.department}"
    due: dt.date = state.due_date
    if by == "month":
        return f"{due.year}-{due.month:02d}"
    if by == "quarter":
        return f"{due.year}-Q{(due.month - 1) // 3 + 1}"
    if by == "year":
        return str(due.year)
    raise ValueError(f"unknown grouping {by!r}")


@dataclass
class Rates:
    group: str
    total: int = 0
    expected: int = 0
    done: int = 0
    on_time: int = 0
    overdue: int = 0
    done_total: int = 0
    open_not_due: int = 0
    waived: int = 0
    cancelled: int = 0

    @property
    def completion_rate(self) -> float | None:
        return round(self.done / self.expected, 4) if self.expected else None

    @property
    def on_time_rate(self) -> float | None:
        return round(self.on_time / self.expected, 4) if self.expected else None

    def add(self, state: Any, as_of: dt.date) -> None:
        self.total += 1
        status = state.status
        if status == "cancelled":
            self.cancelled += 1
            return
        if status == "waived":
            self.waived += 1
            return
        if status == "done":
            self.done_total += 1
        if state.due_date < as_of:
            self.expected += 1
            if status == "done":
                self.done += 1
                if state.completed_on is not None and state.completed_on <= state.due_date:
                    self.on_time += 1
            else:
                self.overdue += 1
        elif status != "done":
            self.open_not_due += 1

    def as_dict(self) -> dict[str, Any]:
        return {
            "group": self.group,
            "total": self.total,
            "expected": self.expected,
            "done": self.done,
            "on_time": self.on_time,
            "overdue": self.overdue,
            "done_total": self.done_total,
            "open_not_due": self.open_not_due,
            "waived": self.waived,
            "cancelled": self.cancelled,
            "completion_rate": self.completion_rate,
            "on_time_rate": self.on_time_rate,
        }


@dataclass(frozen=True)
class OverdueItem:
    occurrence_id: int
    agreement_id: str
    clause: str
    clause_title: str
    party: str
    department: str
    due_date: dt.date
    days_overdue: int
    group: str


@dataclass
class Progress:
    """Reported metric sums against the targets of one clause (targets summed over its live occurrences)."""

    agreement_id: str
    clause: str
    clause_title: str
    metric: str
    target: int = 0
    reported: int = 0

    @property
    def ratio(self) -> float | None:
        return round(self.reported / self.target, 4) if self.target else None


@dataclass
class AuditSummary:
    as_of: dt.date
    group_by: GroupBy
    groups: list[Rates]
    overall: Rates
    overdue: list[OverdueItem]
    overdue_count: int
    progress: list[Progress]
    filters: dict[str, Any] = field(default_factory=dict)


def summarise_states(
    states: Iterable[Any], as_of: dt.date, by: GroupBy = "agreement", overdue_limit: int = 200
) -> AuditSummary:
    """One pass over a stream of states: group rates, the oldest overdue items (bounded), target progress."""
    overdue_limit = max(0, overdue_limit)
    groups: dict[str, Rates] = {}
    overall = Rates("合计")
    overdue_heap: list[tuple[int, int, OverdueItem]] = []
    overdue_count = 0
    progress: dict[tuple[str, str, str], Progress] = {}
    for state in states:
        key = group_key(state, by)
        groups.setdefault(key, Rates(key)).add(state, as_of)
        overall.add(state, as_of)
        if state.status == "overdue" or (
            state.status not in ("done", "waived", "cancelled") and state.due_date < as_of
        ):
            overdue_count += 1
            item = OverdueItem(
                state.id,
                state.agreement_id,
                state.clause,
                state.clause_title,
                state.party,
                state.department,
                state.due_date,
                (as_of - state.due_date).days,
                key,
            )
            # Keep the `overdue_limit` oldest in a max-heap (negated keys) without holding every overdue item.
            entry = (-state.due_date.toordinal(), -state.id, item)
            if len(overdue_heap) < overdue_limit:
                heapq.heappush(overdue_heap, entry)
            elif overdue_limit and entry > overdue_heap[0]:
                heapq.heapreplace(overdue_heap, entry)
        if state.status in ("waived", "cancelled"):
            continue
        for metric in set(state.targets) | set(state.metrics):
            row = progress.setdefault(
                (state.agreement_id, state.clause, metric),
                Progress(state.agreement_id, state.clause, state.clause_title, metric),
            )
            row.target += int(state.targets.get(metric, 0))
            row.reported += int(state.metrics.get(metric, 0))
    oldest = sorted(overdue_heap, reverse=True)
    return AuditSummary(
        as_of=as_of,
        group_by=by,
        groups=[groups[k] for k in sorted(groups)],
        overall=overall,
        overdue=[e[2] for e in oldest],
        overdue_count=overdue_count,
        progress=[progress[k] for k in sorted(progress, key=_clause_order)],
    )


def _clause_order(key: tuple[str, str, str]) -> tuple[Any, ...]:
    agreement, clause, metric = key
    parts = tuple(int(p) if p.isdigit() else 0 for p in clause.split("."))
    return (agreement, parts, clause, metric)


def percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def summary_markdown(summary: AuditSummary, verification: Any | None = None) -> str:
    """The audit report in Chinese Markdown, as the Prefect artifact shows it."""
    title = GROUP_LABELS[summary.group_by]
    lines = [f"# 协议执行审计报告（截至 {chinese_date(summary.as_of)}）", ""]
    if summary.filters:
        shown = "，".join(f"{k}={v}" for k, v in summary.filters.items() if v not in (None, ""))
        if shown:
            lines += [f"筛选条件：{shown}", ""]
    o = summary.overall
    lines += [
        f"共 **{o.total}** 项任务：应完成 {o.expected} 项，已完成 {o.done} 项（完成率 **{percent(o.completion_rate)}**），"
        f"按时完成 {o.on_time} 项（按时率 **{percent(o.on_time_rate)}**），逾期 **{o.overdue}** 项；"
        f"尚未到期 {o.open_not_due} 项，豁免 {o.waived} 项，取消 {o.cancelled} 项。",
        "",
        "> 口径：应完成 = 截止日期已过且未豁免、未取消；完成率 = 其中已完成的比例；按时率 = 其中在截止日期当天或之前完成的比例。",
        "",
        f"## 按{title}统计",
        "",
        f"| {title} | 任务 | 应完成 | 已完成 | 完成率 | 按时 | 按时率 | 逾期 | 未到期 | 豁免 | 取消 |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in summary.groups:
        lines.append(
            f"| {r.group} | {r.total} | {r.expected} | {r.done} | {percent(r.completion_rate)} | {r.on_time} | "
            f"{percent(r.on_time_rate)} | {r.overdue} | {r.open_not_due} | {r.waived} | {r.cancelled} |"
        )
    if not summary.groups:
        lines.append("| — | 0 | 0 | 0 | — | 0 | — | 0 | 0 | 0 | 0 |")
    lines += [
        "",
        f"## 逾期任务（共 {summary.overdue_count} 项"
        + (f"，列出最早的 {len(summary.overdue)} 项）" if summary.overdue_count > len(summary.overdue) else "）"),
        "",
    ]
    if summary.overdue:
        lines += ["| 编号 | 截止日期 | 逾期天数 | 协议 | 条款 | 任务 | 责任单位 |", "|---:|---|---:|---|---|---|---|"]
        for item in summary.overdue:
            lines.append(
                f"| {item.occurrence_id} | {chinese_date(item.due_date)} | {item.days_overdue} | {item.agreement_id} | "
                f"第{item.clause}条 | {item.clause_title} | {item.party}{item.department} |"
            )
    else:
        lines.append("无逾期任务。")
    lines += ["", "## 量化指标进度", ""]
    if summary.progress:
        lines += ["| 协议 | 条款 | 任务 | 指标 | 已报告 | 目标 | 完成比例 |", "|---|---|---|---|---:|---:|---:|"]
        for p in summary.progress:
            lines.append(
                f"| {p.agreement_id} | 第{p.clause}条 | {p.clause_title} | {METRIC_LABELS.get(p.metric, p.metric)} | {p.reported:,} | "
                f"{p.target:,} | {percent(p.ratio)} |"
            )
    else:
        lines.append("所选范围内的条款没有量化指标。")
    if verification is not None:
        lines += ["", "## 台账校验", ""]
        if verification.ok:
            lines.append(f"✓ 台账完整：{verification.events} 条事件，哈希链校验通过。")
        else:
            brk = verification.first_break
            where = f"事件 #{brk.event_id}：{brk.reason}" if brk else "台账头记录与链尾不一致"
            lines.append(f"✗ **台账被改动**：{where}")
    return "\n".join(lines) + "\n"


def status_label(status: str) -> str:
    return STATUS_LABELS.get(status, status)
