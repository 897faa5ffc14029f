"""`coop audit …`: read-only audit queries, exports and ledger verification (all through `coop.services.audit`)."""

from __future__ import annotations

import datetime as dt
import functools
import inspect
import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from coop.audit import GROUP_LABELS, LEVEL_LABELS, AuditSummary, basis_text, percent, scope_text
from coop.cli._common import console, user_errors
from coop.errors import CoopError
from coop.labels import chinese_date
from coop.services import audit, verification
from coop.services.schema import require_current_schema
from coop.settings import Settings, get_settings
from coop.store.audit import AuditFilter

app = typer.Typer(help="审计 audit (read-only)", no_args_is_help=True)

AuditBy = Annotated[
    str, typer.Option("--by", help="分组：agreement / programme / party / department / month / quarter / year")
]
AsOfOpt = Annotated[
    dt.datetime | None, typer.Option("--as-of", formats=["%Y-%m-%d"], help="查询该日结束时的状态（据台账重建）")
]
AgreementOpt = Annotated[str | None, typer.Option(help="协议编号")]
ProgrammeOpt = Annotated[str | None, typer.Option(help="工程编号")]
ClauseOpt = Annotated[str | None, typer.Option(help="条款编号")]
PartyOpt = Annotated[str | None, typer.Option(help="单位")]
DepartmentOpt = Annotated[str | None, typer.Option(help="部门：单位/部门")]
FromOpt = Annotated[dt.datetime | None, typer.Option("--from", formats=["%Y-%m-%d"], help="截止日期不早于")]
ToOpt = Annotated[dt.datetime | None, typer.Option("--to", formats=["%Y-%m-%d"], help="截止日期不晚于")]


def _settings() -> Settings:
    """The settings, once the schema is known to be current (an auditor never migrates: it cannot write)."""
    settings = get_settings()
    require_current_schema(settings.database_url)
    return settings


def _date(value: dt.datetime | None) -> dt.date | None:
    return value.date() if value else None


_FILTER_OPTIONS: dict[str, Any] = {
    "agreement": AgreementOpt,
    "programme": ProgrammeOpt,
    "clause": ClauseOpt,
    "party": PartyOpt,
    "department": DepartmentOpt,
    "due_from": FromOpt,
    "due_to": ToOpt,
}


def filtered(command: Callable[..., None]) -> Callable[..., None]:
    """Give a command the seven audit filter options as one `flt: AuditFilter`: one option list, not one per command."""
    own = inspect.signature(command, eval_str=True)
    kept = [p for p in own.parameters.values() if p.name != "flt"]
    added = [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=annotation)
        for name, annotation in _FILTER_OPTIONS.items()
    ]

    @functools.wraps(command)
    def with_filter(**options: Any) -> None:
        values = {name: options.pop(name) for name in _FILTER_OPTIONS}
        values.update({key: _date(values[key]) for key in ("due_from", "due_to")})
        command(flt=AuditFilter(**values), **options)

    with_filter.__signature__ = own.replace(parameters=[*kept, *added])  # type: ignore[attr-defined]
    return with_filter


def _summary(by: str, flt: AuditFilter, as_of: dt.datetime | None, overdue_limit: int) -> AuditSummary:
    grouping = audit.group_by(by)
    day = audit.audit_day(_date(as_of))
    return audit.summarise(_settings(), flt, day, grouping, overdue_limit)


@app.command("verify")
def audit_verify() -> None:
    """校验台账：哈希链、签名检查点，并据台账重建任务状态与报告、逐项核对数据表 — verify the ledger."""
    with user_errors():
        ok = print_verify(_settings())
    if not ok:
        raise typer.Exit(1)


def print_verify(settings: Settings) -> bool:
    """Verify the ledger (chain, checkpoints, tables) on the read-only login and say what was found; False if not."""
    result = verification.verify_ledger(settings)
    for line in result.lines():
        style = "green" if line.startswith("✓") else "bold red" if line.startswith("✗") else None
        console.print(line, style=style, highlight=False)
    return result.ok


@app.command("keygen")
def audit_keygen(
    path: Annotated[Path, typer.Argument(help="私钥文件路径（公钥写到同名 .pub 文件）")],
) -> None:
    """生成签署台账检查点的 Ed25519 密钥（权限 0600，不覆盖已有文件） — create the checkpoint signing key."""
    with user_errors():
        files = verification.keygen(path)
    console.print(f"[green]✓[/] 私钥：{files.private}（0600）  公钥：{files.public}  密钥编号：{files.key_id}")
    console.print(
        f"请把私钥放在数据库主机以外，并设置 COOP_LEDGER_KEY_FILE={files.private}；"
        f"公钥交给审计人员（COOP_LEDGER_PUBLIC_KEY_FILE）",
        highlight=False,
    )


@app.command("checkpoint")
def audit_checkpoint() -> None:
    """用 COOP_LEDGER_KEY_FILE 签署当前台账头，写入检查点文件、审计渠道和数据表 — sign a ledger checkpoint."""
    with user_errors():
        settings = _settings()
        done = verification.checkpoint(settings, settings.actor)
    cp = done.checkpoint
    console.print(f"[green]✓[/] 已签署检查点：事件 #{cp.event_id} · {cp.hash}（密钥 {cp.key_id}，{cp.at}）")
    console.print(f"检查点文件：{done.file or '未配置（COOP_CHECKPOINT_FILE）'}", highlight=False)
    console.print(f"审计渠道：{done.delivered or '未配置（COOP_AUDITOR_CHANNEL）'}", highlight=False)


@app.command("rates")
@filtered
def audit_rates(flt: AuditFilter, by: AuditBy = "agreement", as_of: AsOfOpt = None) -> None:
    """完成率、按时率（按协议 / 工程 / 单位 / 部门 / 时段） — completion and on-time rates."""
    with user_errors():
        summary = _summary(by, flt, as_of, 0)
    label = GROUP_LABELS[summary.group_by]
    table = Table(
        title=f"完成率与按时率（截至 {summary.as_of}；应完成 = 截止日期已过且未豁免、未取消、未暂停、非未跟踪历史）"
    )
    columns = (
        label,
        "任务",
        "应完成",
        "已完成",
        "完成率",
        "按时",
        "按时率",
        "逾期",
        "未到期",
        "暂停",
        "未跟踪",
        "豁免",
        "取消",
    )
    for col in (*columns, "分方完成率"):
        table.add_column(col, justify="left" if col == label else "right")
    for r in [*summary.groups, summary.overall]:
        table.add_row(
            r.group,
            str(r.total),
            str(r.expected),
            str(r.done),
            percent(r.completion_rate),
            str(r.on_time),
            percent(r.on_time_rate),
            str(r.overdue),
            str(r.open_not_due),
            str(r.suspended),
            str(r.untracked),
            str(r.waived),
            str(r.cancelled),
            percent(r.part_rate),
            style="bold" if r is summary.overall else None,
        )
    console.print(table)


@app.command("overdue")
@filtered
def audit_overdue(
    flt: AuditFilter,
    by: AuditBy = "agreement",
    as_of: AsOfOpt = None,
    limit: Annotated[int, typer.Option(help="最多列出几项")] = 100,
) -> None:
    """逾期清单 — overdue occurrences, oldest first."""
    with user_errors():
        summary = _summary(by, flt, as_of, max(0, limit))
    table = Table(title=f"逾期任务（截至 {summary.as_of}，共 {summary.overdue_count} 项）")
    for col in ("编号", GROUP_LABELS[summary.group_by], "截止日期", "逾期工作日", "条款", "任务", "责任单位"):
        table.add_column(col)
    for item in summary.overdue:
        table.add_row(
            str(item.occurrence_id),
            item.group,
            chinese_date(item.due_date),
            str(item.days_overdue),
            item.clause,
            item.clause_title,
            f"{item.party}{item.department}",
        )
    console.print(table)


@app.command("progress")
@filtered
def audit_progress(flt: AuditFilter, as_of: AsOfOpt = None) -> None:
    """量化指标进度：已报告合计与目标 — progress toward numeric targets."""
    with user_errors():
        summary = _summary("agreement", flt, as_of, 0)
    table = Table(title=f"量化指标进度（截至 {summary.as_of}）")
    for col in ("协议", "条款", "任务", "指标", "已报告", "目标", "完成比例"):
        table.add_column(col, justify="right" if col in ("已报告", "目标", "完成比例") else "left")
    for p in summary.progress:
        table.add_row(
            p.agreement_id,
            p.clause,
            p.clause_title,
            summary.label(p.agreement_id, p.metric),
            f"{p.reported:,}",
            f"{p.target:,}",
            percent(p.ratio),
        )
    console.print(table)
    if not summary.rollup:
        return
    term = Table(title="协议期目标进度（条款 → 工程 → 协议）")
    for col in ("层级", "协议", "范围", "名称", "指标", "已报告", "目标", "完成比例", "目标口径"):
        term.add_column(col, justify="right" if col in ("已报告", "目标", "完成比例") else "left")
    for r in summary.rollup:
        term.add_row(
            LEVEL_LABELS[r.level],
            r.agreement_id,
            scope_text(r),
            r.title,
            r.label,
            f"{r.reported:,}",
            f"{r.target:,}",
            percent(r.ratio),
            basis_text(r),
        )
    console.print(term)


@app.command("history")
def audit_history(
    occurrence_id: Annotated[int | None, typer.Argument(help="任务编号")] = None,
    agreement: Annotated[str | None, typer.Option(help="协议编号（与 --clause 一起查看条款历史）")] = None,
    clause: Annotated[str | None, typer.Option(help="条款编号")] = None,
    as_of: AsOfOpt = None,
    show_hash: Annotated[bool, typer.Option("--hash", help="加列每个事件的台账哈希（供核对哈希链）")] = False,
    raw: Annotated[bool, typer.Option("--raw", help="加列事件的原始内容（JSON）")] = False,
) -> None:
    """一项任务或一个条款的完整台账记录，每个事件一句话（何时、谁、做了什么、佐证） — full history."""
    with user_errors():
        settings = _settings()
        if occurrence_id is not None and agreement is None and clause is None:
            told = audit.told_occurrence_history(settings, occurrence_id, _date(as_of))
            history = told.history
            title = (
                f"任务 #{occurrence_id} · 第{history.clause}条 {history.clause_title} · "
                f"{history.party}{history.department} · 截止 {history.due_date}"
            )
            events, sentences = history.events, told.sentences
        elif occurrence_id is None and agreement is not None and clause is not None:
            clause_history = audit.clause_history(settings, agreement, clause, _date(as_of))
            title = (
                f"{clause_history.agreement_id} 第{clause_history.clause}条 {clause_history.clause_title}"
                f"（{clause_history.occurrences} 项任务）"
            )
            events = clause_history.events
            sentences = audit.sentences(events, settings, audit.history_labels(settings, agreement))
        else:
            raise CoopError("请给出任务编号，或 --agreement 协议编号 --clause 条款编号")
    table = Table(title=title, show_lines=True)
    for col in ("事件", "任务", "经过", "佐证"):
        table.add_column(col, no_wrap=col == "事件")
    if show_hash:
        table.add_column("哈希", no_wrap=True, min_width=64)
    if raw:
        table.add_column("原始内容")
    for e, sentence in zip(events, sentences, strict=True):
        # Text, not markup: a note or a department name may contain [brackets] rich would read as styles.
        row = [Text(str(e.id)), Text(str(e.occurrence_id or "—")), Text(sentence), Text("\n".join(e.evidence) or "—")]
        if show_hash:
            row.append(Text(e.hash))
        if raw:
            row.append(Text(json.dumps(e.payload, ensure_ascii=False)))
        table.add_row(*row)
    console.print(table)


@app.command("export")
@filtered
def audit_export(
    flt: AuditFilter,
    output: Annotated[Path, typer.Argument(help="输出文件 *.csv 或 *.xlsx")],
    as_of: AsOfOpt = None,
) -> None:
    """导出任务状态明细为 CSV 或 XLSX（逐行流式写出） — export."""
    with user_errors():
        audit.export_format(output)  # refuse a wrong suffix before touching the database
        day = audit.audit_day(_date(as_of))
        count = audit.export_file(_settings(), flt, day, output)
    console.print(f"[green]✓[/] 已导出 {count} 行到 {output}（截至 {day.as_of}）", highlight=False)
