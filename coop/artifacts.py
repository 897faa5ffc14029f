"""Chinese Markdown for the artifacts every flow run leaves in the Prefect UI, and their keys and links. Pure.

Links are relative: the pages that show an artifact (a flow run, an artifact, an artifact key) all sit three
levels below the UI's root, so `../../` reaches it in Prefect's V1 and V2 UIs, on any host name, behind a proxy.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from coop.agreement.loader import LoadedAgreement
from coop.calendar import default_calendar
from coop.errors import AgreementError, CoopError
from coop.labels import OUTCOME_LABELS, STATUS_LABELS, chinese_date
from coop.markup import markdown_text
from coop.occurrence_status import SweepResult
from coop.planning import PlannedOccurrence, PlanResult
from coop.report import CompletionReport
from coop.summary import plan_result_markdown, summary_markdown
from models.read import AgreementSummaryPublic as AgreementSummary
from models.read import OccurrenceDetailPublic as OccurrenceDetail

PLAN_INDEX_KEY = "plan-all-agreements"
OVERDUE_KEY = "overdue-list"
MAX_ROWS = 200


def _slug(text: str) -> str:
    """Artifact keys allow lowercase letters, digits and dashes only."""
    return "".join(c if c.isalnum() and c.isascii() else "-" for c in text.lower()).strip("-") or "agreement"


def plan_key(agreement_id: str) -> str:
    return f"plan-{_slug(agreement_id)}"


def completion_key(agreement_id: str) -> str:
    return f"completion-{_slug(agreement_id)}"


def artifact_link(key: str) -> str:
    return f"../../artifacts/key/{key}"


def flow_run_link(flow_run_id: object) -> str:
    return f"../../runs/flow-run/{flow_run_id}"


def _cell(text: object) -> str:
    """Agreement, report and error text in a table cell, heading or link text: shown as written, never markup,
    never breaking the table."""
    return markdown_text(text)


def department_label(party: str, department: str) -> str:
    """Written the way the record-completion form asks for it: 单位/部门."""
    return f"{party}/{department}"


@dataclass(frozen=True)
class PlannedCount:
    programme: str
    programme_title: str
    department: str
    occurrences: int


def planned_counts(loaded: LoadedAgreement, planned: Iterable[PlannedOccurrence]) -> list[PlannedCount]:
    """Occurrences the agreement yields per programme and responsible department, in the file's order."""
    counts = Counter((p.programme, department_label(p.party, p.department)) for p in planned)
    rows = []
    for programme in loaded.agreement.programmes:
        mine = sorted((dept, n) for (code, dept), n in counts.items() if code == programme.id)
        rows += [PlannedCount(programme.id, programme.title, dept, n) for dept, n in mine]
    return rows


def planned_counts_markdown(counts: Sequence[PlannedCount]) -> str:
    lines = [
        "## 按工程和责任单位统计的任务",
        "",
        "| 工程/专项 | 责任单位 | 任务数 |",
        "|---|---|---:|",
    ]
    lines += [
        f"| {_cell(c.programme)} {_cell(c.programme_title)} | {_cell(c.department)} | {c.occurrences} |" for c in counts
    ]
    lines.append(f"| **合计** | | **{sum(c.occurrences for c in counts)}** |")
    return "\n".join(lines) + "\n"


def plan_markdown(
    result: PlanResult, title: str, counts: Sequence[PlannedCount], summaries: Iterable[AgreementSummary]
) -> str:
    """What a plan run did, what the agreement yields, and what is due next."""
    return "\n".join(
        [
            plan_result_markdown(result, title),
            planned_counts_markdown(counts),
            summary_markdown(summaries),
            (
                f"相关：[全部协议计划结果]({artifact_link(PLAN_INDEX_KEY)}) · "
                f"[逾期清单]({artifact_link(OVERDUE_KEY)}) · "
                f"[完成情况登记]({artifact_link(completion_key(result.agreement_id))})"
            ),
            "",
        ]
    )


@dataclass(frozen=True)
class PlanRun:
    """One agreement file of plan-all-agreements, as the index lists it."""

    path: str
    flow_run_id: str | None
    result: PlanResult | None
    error: str | None = None
    reported: bool = True  # a plan report of its own was published (plan-agreement); the bulk path has none


def plan_index_markdown(day: dt.date, runs: Sequence[PlanRun]) -> str:
    failed = sum(1 for r in runs if r.result is None)
    lines = [
        f"# 全部协议计划结果（基准日 {chinese_date(day)}）",
        "",
        f"共 {len(runs)} 份协议，成功 **{len(runs) - failed}** 份，失败 **{failed}** 份。",
        "",
        "| 协议文件 | 结果 | 新增 | 调整 | 取消 | 保留 | 详情 |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    for r in runs:
        links = [f"[运行记录]({flow_run_link(r.flow_run_id)})"] if r.flow_run_id else []
        if r.result is None:
            lines.append(
                f"| {_cell(r.path)} | **失败**：{_cell(r.error or '见运行日志')} | | | | | {' · '.join(links)} |"
            )
            continue
        res = r.result
        state = f"第 {res.version} 版，未变化" if res.unchanged else f"第 {res.version} 版，已写入"
        if r.reported:
            links.append(f"[计划报告]({artifact_link(plan_key(res.agreement_id))})")
        lines.append(
            f"| {_cell(r.path)} | {state} | {res.created} | {res.updated} | {res.cancelled} | {res.kept} "
            f"| {' · '.join(links)} |"
        )
    return "\n".join(lines) + "\n"


def sweep_markdown(day: dt.date, result: SweepResult, total_overdue: int, overdue: Sequence[OccurrenceDetail]) -> str:
    """Counts of this sweep, then the overdue list grouped by agreement, each linked to its plan reports."""
    lines = [
        f"# 每日状态更新（基准日 {chinese_date(day)}）",
        "",
        f"本次：**{result.became_due}** 项进入办理期，**{result.became_overdue}** 项转为逾期。",
        "",
        f"## 逾期清单（共 {total_overdue} 项）",
        "",
    ]
    if not overdue:
        return "\n".join([*lines, "目前没有逾期任务。", ""])
    workdays = default_calendar()  # overdue days are working days, as escalations count them
    by_agreement: dict[tuple[str, str], list[OccurrenceDetail]] = {}
    for item in overdue:
        by_agreement.setdefault((item.agreement_id, item.agreement_title), []).append(item)
    for (agreement_id, title), items in by_agreement.items():
        lines += [
            f"### [{_cell(title)}]({artifact_link(plan_key(agreement_id))})（{len(items)} 项）",
            "",
            "| 任务编号 | 条款 | 任务 | 责任单位 | 截止日期 | 逾期工作日 |",
            "|---:|---|---|---|---|---:|",
        ]
        lines += [
            f"| {i.occurrence_id} | 第{_cell(i.clause)}条 | {_cell(i.clause_title)} | "
            f"{_cell(department_label(i.party, i.department))} | {chinese_date(i.due_date)} | "
            f"{workdays.workdays_between(i.due_date, day)} |"
            for i in items
        ]
        lines.append("")
    if total_overdue > len(overdue):
        lines += [
            f"另有 {total_overdue - len(overdue)} 项逾期任务未列出（按截止日期排序，仅列前 {len(overdue)} 项）。",
            "",
        ]
    lines += ["责任单位完成后，可用部署 **record-completion** 登记完成情况（任务编号见上表）。", ""]
    return "\n".join(lines)


def completion_markdown(report: CompletionReport, event_id: int, occurrence: OccurrenceDetail | None) -> str:
    """What was recorded, against what the clause asks for."""
    lines = [f"# 完成情况已登记：任务 #{report.occurrence_id}", "", "| 项目 | 内容 |", "|---|---|"]
    if occurrence is not None:
        lines += [
            f"| 协议 | [{_cell(occurrence.agreement_title)}]({artifact_link(plan_key(occurrence.agreement_id))}) |",
            f"| 条款 | 第{_cell(occurrence.clause)}条 {_cell(occurrence.clause_title)} |",
            f"| 责任单位 | {_cell(department_label(occurrence.party, occurrence.department))} |",
            f"| 截止日期 | {chinese_date(occurrence.due_date)} |",
        ]
    lines += [
        f"| 完成情况 | {OUTCOME_LABELS.get(report.outcome, report.outcome)} |",
        f"| 当前状态 | {STATUS_LABELS.get(occurrence.status, occurrence.status) if occurrence else '—'} |",
        f"| 参与人数 | {report.participants if report.participants is not None else '—'} |",
        f"| 说明 | {_cell(report.note) if report.note else '—'} |",
        f"| 台账事件 | #{event_id} |",
    ]
    targets = occurrence.targets if occurrence else {}
    names = list(dict.fromkeys([*targets, *report.metrics]))
    if names:
        lines += ["", "## 指标", "", "| 指标 | 本次报告 | 本期目标 |", "|---|---:|---:|"]
        lines += [f"| {_cell(n)} | {report.metrics.get(n, '—')} | {targets.get(n, '—')} |" for n in names]
    if report.evidence:
        lines += ["", "## 佐证材料", ""]
        lines += [f"- {_cell(e)}" for e in report.evidence]
    lines += ["", f"相关：[逾期清单]({artifact_link(OVERDUE_KEY)})", ""]
    return "\n".join(lines)


def user_error_text(exc: CoopError) -> str:
    """The log line a coordinator reads in the UI: every problem on its own line, no traceback needed."""
    if isinstance(exc, AgreementError):
        problems = "\n".join(f"  {p}" for p in exc.problems)
        return (
            f"协议文件有误（共 {len(exc.problems)} 处），本次未写入任何数据：\n{problems}\n"
            "请按 文件:行号 修改协议文件后重新运行。"
        )
    return f"无法完成，本次未写入任何数据：{exc}"


def user_error_markdown(exc: CoopError) -> str:
    if isinstance(exc, AgreementError):
        rows = "\n".join(f"| {_cell(p.file)} | {p.line or '—'} | {_cell(p.message)} |" for p in exc.problems)
        return (
            "# 运行失败：协议文件有误\n\n本次未写入任何数据。请按下表修改协议文件后重新运行。\n\n"
            f"| 文件 | 行号 | 问题 |\n|---|---:|---|\n{rows}\n"
        )
    return f"# 运行失败\n\n本次未写入任何数据。\n\n原因：{_cell(exc)}\n"
