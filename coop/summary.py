"""Chinese text a coordinator reads: plan results and agreement summaries, as Markdown or plain text."""

from __future__ import annotations

from collections.abc import Iterable

from coop.labels import STATUS_LABELS, chinese_date
from coop.markup import markdown_text as md
from coop.notify.results import BatchResult, DrainReport
from coop.planning import PlanResult
from models.read import AgreementSummaryPublic as AgreementSummary
from models.read import OutboxMessagePublic as OutboxRow


def plan_result_markdown(result: PlanResult, title: str) -> str:
    title = md(title)
    if result.unchanged:
        head = f"# 计划结果：{title}\n\n协议未变化（第 {result.version} 版），本次未写入任何数据。\n"
        return head
    lines = [
        f"# 计划结果：{title}",
        "",
        f"第 {result.version} 版计划已写入：新增 **{result.created}** 项，调整 **{result.updated}** 项，"
        f"取消 **{result.cancelled}** 项，保留 **{result.kept}** 项。",
    ]
    if result.changes:
        lines += ["", "逐条变更：", ""] + [f"- {md(line)}" for line in result.change_lines()]
    return "\n".join(lines) + "\n"


def summary_markdown(summaries: Iterable[AgreementSummary]) -> str:
    parts = []
    for s in summaries:
        status = "，".join(f"{STATUS_LABELS.get(k, k)} {v}" for k, v in sorted(s.by_status.items()))
        parts += [
            f"## {md(s.title)}",
            "",
            f"- 协议编号：`{s.id}`（第 {s.version} 版），期限 {s.term_start} 至 {s.term_end}",
            f"- 工程/专项 {s.programmes} 个，条款 {s.clauses} 条，任务 {s.occurrences} 项（{status}）",
            f"- 其中 {s.provisional} 项的日期依据暂定节假日安排（待国务院办公厅公布后自动重算）"
            if s.provisional
            else "- 所有日期均依据已公布的节假日安排",
            "",
            "| 截止日期 | 条款 | 任务 | 责任单位 | 承办方 | 状态 |",
            "|---|---|---|---|---|---|",
        ]
        for item in s.next_due:
            mark = "（暂定）" if item.provisional else ""
            parts.append(
                f"| {chinese_date(item.due_date)}{mark} | 第{md(item.clause)}条 | {md(item.clause_title)} | "
                f"{md(item.party)}{md(item.department)} | {md(item.host or '—')}{_place(item.location)} "
                f"| {STATUS_LABELS.get(item.status, item.status)} |"
            )
        if not s.next_due:
            parts.append("| — | — | 协议期内已无待办任务 | — | — | — |")
        parts.append("")
    return "\n".join(parts)


def _place(location: str | None) -> str:
    """The round's place beside its host, in brackets; nothing when no place is known."""
    return md(f"（{location}）") if location else ""


def dispatch_markdown(
    title: str, decided: int, batch: BatchResult, report: DrainReport, department_names: dict[int, str]
) -> str:
    """Sent / retried / dead-lettered per channel and department, plus what could not be addressed at all."""
    lines = [
        f"## {md(title)}",
        "",
        f"- 新产生提醒 {decided} 条，合并为 {batch.messages} 封消息（每个部门每个渠道一封）",
        f"- 本次投递：成功 **{report.total('sent')}**，待重试 **{report.total('retry')}**，"
        f"转入死信 **{report.total('dead')}**",
    ]
    if batch.recipients_without_channel:
        lines.append(f"- 未配置通知渠道、无法通知：{md('；'.join(batch.recipients_without_channel))}")
    rows: dict[tuple[str, int], dict[str, int]] = {}
    for (channel, dept, outcome), n in report.counts.items():
        rows.setdefault((channel, dept), {})[outcome] = n
    if rows:
        lines += ["", "| 渠道 | 部门 | 成功 | 重试 | 死信 |", "|---|---|---|---|---|"]
        for (channel, dept), c in sorted(rows.items()):
            lines.append(
                f"| {md(channel)} | {md(department_names.get(dept, dept))} "
                f"| {c.get('sent', 0)} | {c.get('retry', 0)} | {c.get('dead', 0)} |"
            )
    if report.dead:
        lines += ["", "### 死信（需协调员处理后重新投递）", "", "| 消息 | 渠道 | 错误 |", "|---|---|---|"]
        lines += [f"| #{oid} | {md(channel)} | {md(error[:200])} |" for oid, channel, error in report.dead]
    return "\n".join(lines) + "\n"


def dead_letters_markdown(rows: Iterable[OutboxRow]) -> str:
    """Messages that gave up: auditors see what never reached a department, coordinators what to re-queue."""
    rows = list(rows)
    if not rows:
        return "### 通知死信\n\n无：所有通知均已送达或仍在重试。\n"
    lines = [
        f"### 通知死信（{len(rows)} 封，协调员修复渠道后可用 `coop outbox requeue` 重新投递）",
        "",
        "| 消息 | 收件部门 | 渠道 | 尝试次数 | 最后错误 |",
        "|---|---|---|---|---|",
    ]
    lines += [
        f"| #{r.id} | {md(r.recipient)} | {md(r.channel)} | {r.attempts} | {md((r.last_error or '')[:200])} |"
        for r in rows
    ]
    return "\n".join(lines) + "\n"
