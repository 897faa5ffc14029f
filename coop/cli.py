"""`coop` — the shell entry point. Every command calls the same flows/functions the Prefect UI runs."""

from __future__ import annotations

import datetime as dt
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from coop.errors import CoopError

def _quiet_prefect() -> None:
    """Keep the shell output readable (set before Prefect reads its settings); its logs still reach the server."""
    os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "CRITICAL")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_SERVER_LOGGING_LEVEL", "WARNING")
    # The first start on a fresh PREFECT_HOME migrates Prefect's own database; give it time on a 2-core box.
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")
    # Prefect does not create PREFECT_HOME itself; its server then dies with "unable to open database file".
    if os.environ.get("PREFECT_HOME"):
        Path(os.environ["PREFECT_HOME"]).expanduser().mkdir(parents=True, exist_ok=True)


_quiet_prefect()

app = typer.Typer(help="协作通 coop：把合作协议变成按期落实、可追溯的任务。", no_args_is_help=True, add_completion=False)
db_app = typer.Typer(help="数据库 database", no_args_is_help=True)
audit_app = typer.Typer(help="审计 audit (read-only)", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(audit_app, name="audit")
# Piped output (make demo | tee) would otherwise be cut at 80 columns, truncating Chinese titles.
console = Console(width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 160)

TodayOpt = Annotated[dt.datetime | None, typer.Option("--today", formats=["%Y-%m-%d"], help="基准日 YYYY-MM-DD（默认今天，上海时区）")]


@contextmanager
def _user_errors() -> Iterator[None]:
    """A user mistake prints its message and exits 2; it is never a traceback."""
    try:
        yield
    except CoopError as exc:
        err.print(f"[bold red]错误[/]: {exc}", highlight=False)
        raise typer.Exit(2) from None


def _day(value: dt.datetime | None) -> dt.date:
    from coop.clock import today_in_shanghai

    return value.date() if value else today_in_shanghai()


def _run(flow: Callable[..., Any], **params: Any) -> Any:
    with _user_errors():
        return flow(**params)


@app.command()
def plan(
    paths: Annotated[list[Path], typer.Argument(help="协议文件 agreements/*.yaml", exists=False)],
    today: TodayOpt = None,
) -> None:
    """按协议生成（或重新生成）全部任务 — plan agreements."""
    from flows.plan_agreement import plan_agreement

    day = _day(today)
    for path in paths:
        result = _run(plan_agreement, agreement=str(path), today=day)
        if result.unchanged:
            console.print(f"[green]✓[/] {path}: 协议未变化（第 {result.version} 版），未写入任何数据")
        else:
            console.print(
                f"[green]✓[/] {path}: 第 {result.version} 版 — 新增 {result.created}，调整 {result.updated}，"
                f"取消 {result.cancelled}，保留 {result.kept}"
            )
    _print_status(day, None)


@app.command()
def demo(
    directory: Annotated[Path, typer.Option(help="协议文件夹")] = Path("agreements"),
    today: TodayOpt = None,
) -> None:
    """计划全部随附协议并显示汇总 — the README's demo."""
    from flows.plan_agreement import plan_all_agreements
    from flows.sweep_overdue import sweep_overdue

    day = _day(today)
    results = _run(plan_all_agreements, directory=str(directory), today=day)
    swept = _run(sweep_overdue, today=day)
    console.rule(f"协作通 · 协议执行汇总（基准日 {day}）")
    for r in results:
        state = "未变化" if r.unchanged else f"新增 {r.created} / 调整 {r.updated} / 取消 {r.cancelled}"
        console.print(f"• {r.agreement_id}: 第 {r.version} 版，{state}")
    console.print(f"• 状态更新：{swept.became_due} 项进入办理期，{swept.became_overdue} 项逾期")
    _print_status(day, None)
    _print_verify()


@app.command()
def status(
    agreement: Annotated[str | None, typer.Option(help="协议编号")] = None,
    today: TodayOpt = None,
) -> None:
    """各协议任务汇总及近期到期事项 — status."""
    _print_status(_day(today), agreement)


@app.command()
def done(
    occurrence_id: Annotated[int, typer.Argument(help="任务编号")],
    department: Annotated[str, typer.Option(help="责任部门：单位/部门，如 渝北区/区委社会工作部")],
    outcome: Annotated[str, typer.Option(help="done / partial / cannot")] = "done",
    participants: Annotated[int | None, typer.Option(help="参与人数")] = None,
    metric: Annotated[list[str] | None, typer.Option(help="指标 name=数值，可重复")] = None,
    evidence: Annotated[list[str] | None, typer.Option(help="佐证材料链接，可重复")] = None,
    note: Annotated[str | None, typer.Option(help="说明")] = None,
) -> None:
    """报告任务完成情况 — report completion (goes to the ledger)."""
    from flows.record_completion import record_completion

    with _user_errors():
        metrics = _parse_metrics(metric or [])
    event_id = _run(
        record_completion,
        occurrence_id=occurrence_id,
        department=department,
        outcome=outcome,
        participants=participants,
        metrics=metrics,
        evidence=evidence or [],
        note=note,
    )
    console.print(f"[green]✓[/] 已记录：任务 #{occurrence_id}（台账事件 #{event_id}）")


def _parse_metrics(items: list[str]) -> dict[str, int]:
    metrics: dict[str, int] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not value.strip().lstrip("-").isdigit():
            raise CoopError(f"指标应写作 name=整数，例如 resident_questionnaires=1200（收到 '{item}'）")
        metrics[name.strip()] = int(value)
    return metrics


@app.command()
def sweep(today: TodayOpt = None) -> None:
    """更新任务状态（进入办理期 / 逾期） — sweep statuses."""
    from flows.sweep_overdue import sweep_overdue

    result = _run(sweep_overdue, today=_day(today))
    console.print(f"{result.became_due} 项进入办理期，{result.became_overdue} 项逾期")


@db_app.command("upgrade")
def db_upgrade() -> None:
    """把数据库升级到最新结构 — run migrations."""
    from coop.migrate import upgrade

    upgrade()
    console.print("[green]✓[/] 数据库已是最新结构")


@audit_app.command("verify")
def audit_verify() -> None:
    """重新计算台账哈希链，报告第一处被篡改的事件 — verify the ledger."""
    if not _print_verify():
        raise typer.Exit(1)


def _print_verify() -> bool:
    from coop.migrate import upgrade
    from coop.store.ledger import verify
    from models.db import session_scope

    upgrade()
    with session_scope() as session:
        result = verify(session)
    if result.ok:
        console.print(f"[green]✓[/] 台账完整：{result.events} 条事件，哈希链校验通过")
        return True
    where = f"事件 #{result.first_break.event_id}：{result.first_break.reason}" if result.first_break else "台账头记录与链尾不一致"
    console.print(f"[bold red]✗ 台账被改动[/]：{where}")
    return False


def _print_status(day: dt.date, agreement: str | None) -> None:
    from coop.migrate import upgrade
    from coop.store.status import summarise
    from coop.summary import STATUS_LABELS, chinese_date
    from models.db import session_scope

    upgrade()
    with session_scope() as session:
        summaries = summarise(session, day, agreement)
    if not summaries:
        console.print("尚无协议。先运行 coop plan agreements/*.yaml")
        return
    for s in summaries:
        counts = "，".join(f"{STATUS_LABELS.get(k, k)} {v}" for k, v in sorted(s.by_status.items()))
        console.rule(f"[bold]{s.title}")
        console.print(
            f"编号 {s.id} · 第 {s.version} 版 · 期限 {s.term_start} 至 {s.term_end}\n"
            f"工程 {s.programmes} 个 · 条款 {s.clauses} 条 · 任务 {s.occurrences} 项（{counts}）"
            + (f" · 暂定日期 {s.provisional} 项" if s.provisional else "")
        )
        table = Table(title="近期到期的 10 项任务", show_lines=False)
        for col in ("编号", "截止日期", "条款", "任务", "责任单位", "承办方", "状态"):
            table.add_column(col)
        for item in s.next_due:
            table.add_row(
                str(item.occurrence_id),
                chinese_date(item.due_date) + ("（暂定）" if item.provisional else ""),
                item.clause,
                item.clause_title,
                f"{item.party}{item.department}",
                item.host or "—",
                STATUS_LABELS.get(item.status, item.status),
            )
        console.print(table)


def main() -> None:  # pragma: no cover - console script shim
    app(prog_name="coop")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
