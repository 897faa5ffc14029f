"""`coop plan`, `coop plan-batch` and `coop demo`: agreements planned into dated occurrences."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from coop.agreement.organisations import REGISTRY_FILE
from coop.cli._common import TodayOpt, console, database, day, err, user_errors
from coop.cli.status import print_status
from coop.errors import CoopError
from coop.planning import PlanResult
from coop.services.planning import agreement_files, plan_agreement, plan_files
from coop.services.sweep import sweep_statuses
from coop.settings import get_settings


def plan(
    paths: Annotated[list[Path], typer.Argument(help="协议文件 agreements/*.yaml", exists=False)],
    today: TodayOpt = None,
) -> None:
    """按协议生成（或重新生成）全部任务 — plan agreements."""
    settings = get_settings()
    on = day(today)
    with user_errors():
        url = database(settings)
        for path in (p for p in paths if p.name != REGISTRY_FILE):  # agreements/*.yaml names the registry too
            planned = plan_agreement(url, path, on, settings.actor, settings=settings)
            print_plan_result(str(path), planned.result)
    print_status(url, on, None)


def print_plan_result(path: str, result: PlanResult) -> None:
    if result.unchanged:
        console.print(f"[green]✓[/] {path}: 协议未变化（第 {result.version} 版），未写入任何数据", highlight=False)
    else:
        console.print(
            f"[green]✓[/] {path}: 第 {result.version} 版 — 新增 {result.created}，调整 {result.updated}，"
            f"取消 {result.cancelled}，保留 {result.kept}",
            highlight=False,
        )
        if result.effective_from is None:
            return  # a first plan: every occurrence is new, the counts say it all
        source = f"（依据 {result.amendment}）" if result.amendment else ""
        console.print(f"  生效日期 {result.effective_from}{source}：此前到期的任务保持不变", highlight=False)
        if result.not_created:
            console.print(f"  新文本要求但早于生效日期、未创建的任务 {result.not_created} 项", highlight=False)
        for line in result.change_lines():
            console.print(f"  • {line}", highlight=False)


def plan_batch(
    directory: Annotated[Path, typer.Argument(help="协议文件夹（其中每个 .yaml 文件是一份协议）")],
    today: TodayOpt = None,
) -> None:
    """批量计划整个文件夹的协议（适合数百份协议）— plan a whole folder in bulk.

    Each agreement is still all or nothing; a bad file is reported and the others are planned.
    """
    settings = get_settings()
    paths = agreement_files(directory)
    if not paths:
        err.print(f"[bold red]错误[/]: {directory} 中没有 .yaml 协议文件", highlight=False)
        raise typer.Exit(2)
    failed = created = 0
    with user_errors():
        for outcome in plan_files(database(settings), paths, day(today), settings.actor, settings=settings):
            if outcome.result is None:
                failed += 1
                err.print(f"[bold red]✗[/] {outcome.path}: {outcome.error}", highlight=False)
            else:
                created += outcome.result.created
                print_plan_result(outcome.path, outcome.result)
    console.print(
        f"共 {len(paths)} 份协议：{len(paths) - failed} 份成功，{failed} 份失败；新增任务 {created} 项", highlight=False
    )
    if failed:
        raise typer.Exit(2)


def demo(
    directory: Annotated[Path, typer.Option(help="协议文件夹")] = Path("agreements"),
    today: TodayOpt = None,
) -> None:
    """计划全部随附协议并显示汇总 — the README's demo."""
    # Only the demo shows notifications, the ledger check and a web link: `coop plan` does not pay for importing
    # apprise, the audit and the web app (about 1 s of a 3 s budget).
    from coop.cli.audit import print_verify
    from coop.cli.notify import demo_notifications
    from coop.cli.serve import print_demo_link

    settings = get_settings()
    on = day(today)
    results: list[PlanResult] = []
    failed = 0
    with user_errors():
        url = database(settings)
        paths = agreement_files(directory)
        for path in paths:  # each agreement its own transaction: one bad file does not block the others
            try:
                results.append(plan_agreement(url, path, on, settings.actor, settings=settings).result)
            except CoopError as exc:
                failed += 1
                err.print(f"[bold red]✗[/] {path}: {exc}", highlight=False)
        if failed:
            raise CoopError(f"{failed} 份协议计划失败（共 {len(paths)} 份） (agreements failed to plan)")
        swept = sweep_statuses(url, on, settings.actor)
    console.rule(f"协作通 · 协议执行汇总（基准日 {on}）")
    for r in results:
        state = "未变化" if r.unchanged else f"新增 {r.created} / 调整 {r.updated} / 取消 {r.cancelled}"
        console.print(f"• {r.agreement_id}: 第 {r.version} 版，{state}")
    console.print(f"• 状态更新：{swept.became_due} 项进入办理期，{swept.became_overdue} 项逾期")
    print_status(url, on, None)
    demo_notifications(url, settings, on)
    print_verify(settings)
    print_demo_link(url, settings)
