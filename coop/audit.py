"""Audit arithmetic and its Chinese report: rates, overdue lists and target progress from occurrence states.

Definitions (the same for the CLI, the API and the `audit-report` flow):
- *应完成* (expected): not waived or cancelled, and the due date has passed (due_date < as-of day);
- *完成率* = done among expected / expected; *按时率* = done on or before the due date among expected / expected;
- *逾期* = expected but not done; early completions of not-yet-due items are counted in `done_total`.
- *未跟踪* (untracked: due before the agreement's `tracking_from`, not reported) and *暂停* (suspended by a
  coordinator: the overdue clock stops) are outside the expected base and never overdue. A suspended task is
  owed again when resumed, with its due date moved by the days it was suspended, so it counts like a task not
  yet due rather than as a failure; the `suspended` column keeps it visible. A backfilled completion turns an
  untracked task into a done one, with its real completion date for the on-time rate.
- *分方完成率* (part_rate): a joint task (`sign_off: all`) owes one part per party (the responsible party and each
  co-organiser), any other task one part; parts reported done among the parts of expected tasks / those parts.
"""

from __future__ import annotations

import datetime as dt
import heapq
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from coop.agreement.schema import Agreement
from coop.calendar import default_calendar
from coop.labels import chinese_date, metric_label
from coop.markup import markdown_text as md
from coop.notify.policy import WorkdayArithmetic
from coop.verification import LedgerAudit

# Statuses never counted overdue whatever the date: settled, history before tracking_from, or clock stopped.
NOT_OVERDUE = frozenset({"done", "waived", "cancelled", "untracked", "suspended"})
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
    untracked: int = 0  # before the agreement's tracking_from and not reported: history, outside the rates
    suspended: int = 0  # a coordinator stopped the clock: outside the expected base until resumed
    parts_expected: int = 0  # parties' parts of expected tasks: one per task, one per party of a joint task
    parts_done: int = 0

    @property
    def completion_rate(self) -> float | None:
        return round(self.done / self.expected, 4) if self.expected else None

    @property
    def on_time_rate(self) -> float | None:
        return round(self.on_time / self.expected, 4) if self.expected else None

    @property
    def part_rate(self) -> float | None:
        """Each party's part counted: a joint task with two of three parts in is 2/3 done, not 0."""
        return round(self.parts_done / self.parts_expected, 4) if self.parts_expected else None

    def add(self, state: Any, as_of: dt.date) -> None:
        self.total += 1
        status = state.status
        if status == "cancelled":
            self.cancelled += 1
            return
        if status == "waived":
            self.waived += 1
            return
        if status == "untracked":
            self.untracked += 1
            return
        if status == "suspended":
            self.suspended += 1
            return
        if status == "done":
            self.done_total += 1
        if state.due_date < as_of:
            self.expected += 1
            self.parts_expected += getattr(state, "parts_required", 1)
            self.parts_done += getattr(state, "parts_done", 1 if status == "done" else 0)
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
            "untracked": self.untracked,
            "suspended": self.suspended,
            "parts_expected": self.parts_expected,
            "parts_done": self.parts_done,
            "part_rate": self.part_rate,
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


ProgressLevel = Literal["clause", "programme", "agreement"]
LEVEL_LABELS: dict[str, str] = {"clause": "条款", "programme": "工程", "agreement": "协议"}


@dataclass(frozen=True)
class TermPlan:
    """What an agreement declares over its whole term: `total_targets` per clause, programme and agreement, its
    structure (to roll clauses up into programmes) and its own metric names (`metric_labels`)."""

    agreement_id: str
    title: str
    programmes: dict[str, str]  # id → title, in text order
    clauses: dict[str, tuple[str, str]]  # clause id → (programme id, title), in text order
    clause_totals: dict[str, dict[str, int]]
    programme_totals: dict[str, dict[str, int]]
    totals: dict[str, int]
    labels: dict[str, str]

    @classmethod
    def of(cls, agreement: Agreement) -> TermPlan:
        return cls(
            agreement.id,
            agreement.title,
            {p.id: p.title for p in agreement.programmes},
            {c.id: (p.id, c.title) for p in agreement.programmes for c in p.clauses},
            {c.id: dict(c.total_targets) for p in agreement.programmes for c in p.clauses if c.total_targets},
            {p.id: dict(p.total_targets) for p in agreement.programmes if p.total_targets},
            dict(agreement.total_targets),
            dict(agreement.metric_labels),
        )


@dataclass
class TermProgress:
    """Reported sums against the target of one clause, programme or agreement over the term.

    `declared`: the target is the `total_targets` written at this level; otherwise it is the sum below it (for a
    clause: the per-occurrence `targets` of its live occurrences)."""

    level: ProgressLevel
    agreement_id: str
    scope: str  # clause or programme id; '' for the agreement
    title: str
    metric: str
    label: str
    reported: int = 0
    target: int = 0
    declared: bool = False

    @property
    def ratio(self) -> float | None:
        return round(self.reported / self.target, 4) if self.target else None


def roll_up(
    progress: Iterable[Progress],
    plans: Mapping[str, TermPlan],
    seen: Iterable[tuple[str, str]] = (),
    whole: bool = True,
) -> list[TermProgress]:
    """Clause → programme → agreement: reported sums add up; a level's target is its declared `total_targets`,
    else the sum of the targets below it. Listed agreement first, then each programme and its clauses.

    `seen` are the (agreement, clause) pairs the audit's filter let through; with `whole` (no narrower filter than
    an agreement) every clause of the plan counts, so a term target nothing has been reported for yet shows 0.
    """
    by_clause: dict[tuple[str, str], dict[str, Progress]] = {}
    for p in progress:
        by_clause.setdefault((p.agreement_id, p.clause), {})[p.metric] = p
    included = set(seen) | set(by_clause)
    out: list[TermProgress] = []
    for agreement_id in sorted(plans):
        plan = plans[agreement_id]
        clause_rows: dict[str, list[TermProgress]] = {}
        for clause, (programme, title) in plan.clauses.items():
            if not whole and (agreement_id, clause) not in included:
                continue
            measured = by_clause.get((agreement_id, clause), {})
            totals = plan.clause_totals.get(clause, {})
            rows = []
            for metric in sorted(set(measured) | set(totals)):
                m = measured.get(metric)
                row = TermProgress(
                    "clause",
                    agreement_id,
                    clause,
                    title,
                    metric,
                    metric_label(metric, plan.labels),
                    reported=m.reported if m else 0,
                    target=totals.get(metric, m.target if m else 0),
                    declared=metric in totals,
                )
                if row.target or row.reported:
                    rows.append(row)
            clause_rows.setdefault(programme, []).extend(rows)
        programme_rows: dict[str, list[TermProgress]] = {}
        for programme, title in plan.programmes.items():
            if programme not in clause_rows and not whole:
                continue
            below = clause_rows.get(programme, [])
            programme_rows[programme] = _sum_level(
                "programme", agreement_id, programme, title, below, plan.programme_totals.get(programme, {}), plan
            )
        top = _sum_level(
            "agreement",
            agreement_id,
            "",
            plan.title,
            [r for rows in programme_rows.values() for r in rows],
            plan.totals,
            plan,
        )
        out += top
        for programme in programme_rows:
            out += programme_rows[programme] + clause_rows.get(programme, [])
    return out


def _sum_level(
    level: ProgressLevel,
    agreement_id: str,
    scope: str,
    title: str,
    below: list[TermProgress],
    totals: Mapping[str, int],
    plan: TermPlan,
) -> list[TermProgress]:
    rows = []
    for metric in sorted({r.metric for r in below} | set(totals)):
        children = [r for r in below if r.metric == metric]
        row = TermProgress(
            level,
            agreement_id,
            scope,
            title,
            metric,
            metric_label(metric, plan.labels),
            reported=sum(r.reported for r in children),
            target=totals[metric] if metric in totals else sum(r.target for r in children),
            declared=metric in totals,
        )
        if row.target or row.reported:
            rows.append(row)
    return rows


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
    seen: set[tuple[str, str]] = field(default_factory=set)  # (agreement, clause) of every state looked at
    terms: dict[str, TermPlan] = field(default_factory=dict)  # the agreements' term targets and metric names
    rollup: list[TermProgress] = field(default_factory=list)  # clause → programme → agreement, see `roll_up`

    def label(self, agreement_id: str, metric: str) -> str:
        """A metric's name as the agreement calls it (its `metric_labels`), else the common table's."""
        plan = self.terms.get(agreement_id)
        return metric_label(metric, plan.labels if plan else None)

    def with_terms(self, plans: Mapping[str, TermPlan], whole: bool) -> AuditSummary:
        """Add the term targets of `plans` and the roll-up; `whole`: the filter did not narrow below agreements."""
        self.terms = dict(plans)
        self.rollup = roll_up(self.progress, self.terms, self.seen, whole)
        return self


def summarise_states(
    states: Iterable[Any],
    as_of: dt.date,
    by: GroupBy = "agreement",
    overdue_limit: int = 200,
    calendar: WorkdayArithmetic | None = None,
) -> AuditSummary:
    """One pass over a stream of states: group rates, the oldest overdue items (bounded), target progress.

    Days overdue are working days, counted as the escalations count them (`calendar.workdays_between`).
    """
    overdue_limit = max(0, overdue_limit)
    workdays = calendar or default_calendar()
    groups: dict[str, Rates] = {}
    overall = Rates("合计")
    overdue_heap: list[tuple[int, int, OverdueItem]] = []
    overdue_count = 0
    progress: dict[tuple[str, str, str], Progress] = {}
    seen: set[tuple[str, str]] = set()
    for state in states:
        seen.add((state.agreement_id, state.clause))
        key = group_key(state, by)
        groups.setdefault(key, Rates(key)).add(state, as_of)
        overall.add(state, as_of)
        if state.status == "overdue" or (state.status not in NOT_OVERDUE and state.due_date < as_of):
            overdue_count += 1
            item = OverdueItem(
                state.id,
                state.agreement_id,
                state.clause,
                state.clause_title,
                state.party,
                state.department,
                state.due_date,
                max(0, workdays.workdays_between(state.due_date, as_of)),
                key,
            )
            # Keep the `overdue_limit` oldest in a max-heap (negated keys) without holding every overdue item.
            entry = (-state.due_date.toordinal(), -state.id, item)
            if len(overdue_heap) < overdue_limit:
                heapq.heappush(overdue_heap, entry)
            elif overdue_limit and entry > overdue_heap[0]:
                heapq.heapreplace(overdue_heap, entry)
        if state.status in ("waived", "cancelled", "untracked"):
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
        seen=seen,
    )


def _clause_order(key: tuple[str, str, str]) -> tuple[Any, ...]:
    agreement, clause, metric = key
    parts = tuple(int(p) if p.isdigit() else 0 for p in clause.split("."))
    return (agreement, parts, clause, metric)


def scope_text(row: TermProgress) -> str:
    """第1.1条 / 第1工程 / 全协议."""
    if row.level == "clause":
        return f"第{row.scope}条"
    return f"工程 {row.scope}" if row.level == "programme" else "全协议"


def basis_text(row: TermProgress) -> str:
    """Where a target comes from: written as a term target, or added up from below."""
    if row.declared:
        return "协议期总目标"
    return "各次任务目标之和" if row.level == "clause" else "下级目标之和"


def percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def summary_markdown(summary: AuditSummary, verification: Any | None = None) -> str:
    """The audit report in Chinese Markdown, as the Prefect artifact shows it."""
    title = GROUP_LABELS[summary.group_by]
    lines = [f"# 协议执行审计报告（截至 {chinese_date(summary.as_of)}）", ""]
    if summary.filters:
        shown = "，".join(f"{k}={v}" for k, v in summary.filters.items() if v not in (None, ""))
        if shown:
            lines += [f"筛选条件：{md(shown)}", ""]
    o = summary.overall
    lines += [
        f"共 **{o.total}** 项任务：应完成 {o.expected} 项，已完成 {o.done} 项"
        f"（完成率 **{percent(o.completion_rate)}**），"
        f"按时完成 {o.on_time} 项（按时率 **{percent(o.on_time_rate)}**），逾期 **{o.overdue}** 项；"
        f"尚未到期 {o.open_not_due} 项，暂停 {o.suspended} 项，豁免 {o.waived} 项，取消 {o.cancelled} 项，"
        f"未跟踪（tracking_from 之前的历史）{o.untracked} 项。",
        "",
        "> 口径：应完成 = 截止日期已过且未豁免、未取消、未暂停、不属未跟踪的历史；完成率 = 其中已完成的比例；"
        "按时率 = 其中在截止日期当天或之前完成的比例（补录的完成按实际完成日期计）。",
        "",
        f"## 按{title}统计",
        "",
        f"| {title} | 任务 | 应完成 | 已完成 | 完成率 | 按时 | 按时率 | 逾期 | 未到期 | 豁免 | 取消 |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in summary.groups:
        lines.append(
            f"| {md(r.group)} | {r.total} | {r.expected} | {r.done} | {percent(r.completion_rate)} | {r.on_time} | "
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
        lines += ["| 编号 | 截止日期 | 逾期工作日 | 协议 | 条款 | 任务 | 责任单位 |", "|---:|---|---:|---|---|---|---|"]
        for item in summary.overdue:
            lines.append(
                f"| {item.occurrence_id} | {chinese_date(item.due_date)} | {item.days_overdue} | {item.agreement_id} | "
                f"第{item.clause}条 | {md(item.clause_title)} | {md(item.party)}{md(item.department)} |"
            )
    else:
        lines.append("无逾期任务。")
    lines += ["", "## 量化指标进度", ""]
    if summary.progress:
        lines += ["| 协议 | 条款 | 任务 | 指标 | 已报告 | 目标 | 完成比例 |", "|---|---|---|---|---:|---:|---:|"]
        for p in summary.progress:
            lines.append(
                f"| {p.agreement_id} | 第{p.clause}条 | {md(p.clause_title)} "
                f"| {md(summary.label(p.agreement_id, p.metric))} | "
                f"{p.reported:,} | {p.target:,} | {percent(p.ratio)} |"
            )
    else:
        lines.append("所选范围内的条款没有量化指标。")
    if summary.rollup:
        lines += ["", "## 协议期目标进度（条款 → 工程 → 协议）", ""]
        lines += ["| 层级 | 协议 | 范围 | 名称 | 指标 | 已报告 | 目标 | 完成比例 | 目标口径 |"]
        lines += ["|---|---|---|---|---|---:|---:|---:|---|"]
        for t in summary.rollup:
            lines.append(
                f"| {LEVEL_LABELS[t.level]} | {t.agreement_id} | {md(scope_text(t))} | {md(t.title)} | {md(t.label)} | "
                f"{t.reported:,} | {t.target:,} | {percent(t.ratio)} | {basis_text(t)} |"
            )
    if isinstance(verification, LedgerAudit):
        lines += ["", "## 台账校验", ""]
        lines += [f"- {line.strip()}" for line in verification.lines()]
    elif verification is not None:
        lines += ["", "## 台账校验", ""]
        if verification.ok:
            lines.append(f"✓ 台账完整：{verification.events} 条事件，哈希链校验通过。")
        else:
            brk = verification.first_break
            where = f"事件 #{brk.event_id}：{brk.reason}" if brk else "台账头记录与链尾不一致"
            lines.append(f"✗ **台账被改动**：{where}")
    return "\n".join(lines) + "\n"


def rates_table(summary: AuditSummary) -> list[dict[str, object]]:
    """The rates per group and overall as table rows with Chinese column names (the `audit-rates` artifact)."""
    label = GROUP_LABELS[summary.group_by]
    return [
        {
            label: r.group,
            "任务": r.total,
            "应完成": r.expected,
            "已完成": r.done,
            "完成率": percent(r.completion_rate),
            "按时率": percent(r.on_time_rate),
            "逾期": r.overdue,
        }
        for r in [*summary.groups, summary.overall]
    ]
