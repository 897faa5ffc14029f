"""`coop op …`: a named coordinator's operations on one task, backfill of past completions, coordinator tokens.

Every command names who acts (`--by 姓名`, or COOP_COORDINATOR): that person must hold a live coordinator token,
which must reach the task's agreement; the ledger records the person and the reason.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import typer

from coop.cli._common import TodayOpt, console, database, day, user_errors
from coop.labels import status_label
from coop.services import backfill, on_demand, operations
from coop.services.coordinators import DEFAULT_TTL_DAYS, coordinator_named, issue_coordinator_token
from coop.settings import get_settings

app = typer.Typer(
    help="协调人操作 coordinator operations：发起按需任务、延期、暂停/恢复、重新打开、改派、豁免、取消、补录、令牌",
    no_args_is_help=True,
)
token_app = typer.Typer(help="具名协调人令牌 named coordinator tokens", no_args_is_help=True)
app.add_typer(token_app, name="token")

OccurrenceArg = Annotated[int, typer.Argument(min=1, max=2**31 - 1, help="任务编号")]
ByOpt = Annotated[
    str, typer.Option("--by", envvar="COOP_COORDINATOR", help="操作人：持有有效协调人令牌的协调人姓名（记入台账）")
]
ReasonOpt = Annotated[str, typer.Option("--reason", help="理由（必填，记入台账）")]


def _print(result: operations.OperationResult) -> None:
    console.print(
        f"[green]✓[/] 任务 #{result.occurrence_id} 已{operations.OPERATION_LABELS[result.operation]}："
        f"状态 {status_label(result.status)}，截止 {result.due_date}"
        f"（台账事件 #{result.event_id}，操作人 {result.actor}）",
        highlight=False,
    )


@app.command("open")
def open_on_demand(
    agreement: Annotated[str, typer.Argument(help="协议标识（协议文件中的 id）")],
    clause: Annotated[str, typer.Argument(help="按需开展条款的编号（recurrence 写 on_demand: true），如 9.1")],
    department: Annotated[str, typer.Option("--department", help="承办部门：单位/部门（须为协议签约方的部门）")],
    reason: ReasonOpt,
    by: ByOpt,
    due: Annotated[
        dt.datetime | None,
        typer.Option("--due", formats=["%Y-%m-%d"], help="截止日期 YYYY-MM-DD（默认：今天起条款的 window_days 天）"),
    ] = None,
    today: TodayOpt = None,
) -> None:
    """发起一项按需开展的任务（如一起利益调处），自今天起至截止日期 — open an on-demand occurrence."""
    with user_errors():
        url = database(get_settings())
        opened = on_demand.open_on_demand(
            url,
            coordinator_named(url, by),
            agreement,
            clause,
            department,
            reason,
            due_date=due.date() if due else None,
            today=day(today),
        )
    console.print(
        f"[green]✓[/] 已发起任务 #{opened.occurrence_id}（{opened.key}）：{opened.window_start} 至 {opened.due_date}，"
        f"状态 {status_label(opened.status)}（台账事件 #{opened.event_id}，操作人 {opened.actor}）",
        highlight=False,
    )


@app.command("extend")
def extend(
    occurrence_id: OccurrenceArg,
    to: Annotated[dt.datetime, typer.Option("--to", formats=["%Y-%m-%d"], help="新的截止日期 YYYY-MM-DD")],
    reason: ReasonOpt,
    by: ByOpt,
    today: TodayOpt = None,
) -> None:
    """延期：新的截止日期，提醒与升级随之重算 — extend the due date."""
    with user_errors():
        url = database(get_settings())
        _print(operations.extend(url, coordinator_named(url, by), occurrence_id, to.date(), reason, day(today)))


@app.command("suspend")
def suspend(occurrence_id: OccurrenceArg, reason: ReasonOpt, by: ByOpt, today: TodayOpt = None) -> None:
    """暂停：停止计算逾期，不提醒、不升级 — suspend (the overdue clock stops)."""
    with user_errors():
        url = database(get_settings())
        _print(operations.suspend(url, coordinator_named(url, by), occurrence_id, reason, day(today)))


@app.command("resume")
def resume(
    occurrence_id: OccurrenceArg,
    reason: ReasonOpt,
    by: ByOpt,
    due: Annotated[
        dt.datetime | None, typer.Option("--due", formats=["%Y-%m-%d"], help="新的截止日期（默认按暂停天数顺延）")
    ] = None,
    today: TodayOpt = None,
) -> None:
    """恢复暂停的任务，截止日期按暂停天数顺延 — resume a suspended task."""
    with user_errors():
        url = database(get_settings())
        coordinator = coordinator_named(url, by)
        _print(operations.resume(url, coordinator, occurrence_id, reason, day(today), due.date() if due else None))


@app.command("reopen")
def reopen(occurrence_id: OccurrenceArg, reason: ReasonOpt, by: ByOpt, today: TodayOpt = None) -> None:
    """重新打开已完成的任务（原报告保留） — reopen a done task."""
    with user_errors():
        url = database(get_settings())
        _print(operations.reopen(url, coordinator_named(url, by), occurrence_id, reason, day(today)))


@app.command("reassign")
def reassign(
    occurrence_id: OccurrenceArg,
    department: Annotated[str, typer.Option("--department", help="新的责任部门：单位/部门")],
    reason: ReasonOpt,
    by: ByOpt,
) -> None:
    """改派给同一协议签约方的另一个部门 — reassign to another department."""
    with user_errors():
        url = database(get_settings())
        _print(operations.reassign(url, coordinator_named(url, by), occurrence_id, department, reason))


@app.command("waive")
def waive(occurrence_id: OccurrenceArg, reason: ReasonOpt, by: ByOpt) -> None:
    """豁免一项未完成的任务 — waive."""
    with user_errors():
        url = database(get_settings())
        _print(operations.waive(url, coordinator_named(url, by), occurrence_id, reason))


@app.command("cancel")
def cancel(occurrence_id: OccurrenceArg, reason: ReasonOpt, by: ByOpt) -> None:
    """取消一项未完成的任务（如活动停办） — cancel."""
    with user_errors():
        url = database(get_settings())
        _print(operations.cancel(url, coordinator_named(url, by), occurrence_id, reason))


@app.command("backfill")
def backfill_file(
    path: Annotated[Path, typer.Argument(help="台账文件（CSV 或 XLSX），每行一项已完成的任务及其完成日期")],
    by: ByOpt,
    today: TodayOpt = None,
) -> None:
    """补录以往的完成情况：整份文件一次写入，任何一行有误则全部不写入 — backfill past completions."""
    with user_errors():
        url = database(get_settings())
        result = backfill.import_file(url, coordinator_named(url, by), path, day(today))
    console.print(
        f"[green]✓[/] 已补录 {result.recorded} 项完成记录（其中按时 {result.on_time} 项），来源 {result.source}",
        highlight=False,
    )


@token_app.command("issue")
def token_issue(
    person: Annotated[str, typer.Argument(help="持有人姓名（记入台账）")],
    agreement: Annotated[list[str] | None, typer.Option("--agreement", help="只限此协议（可重复）；不填则不限")] = None,
    days: Annotated[int, typer.Option(help="有效天数")] = DEFAULT_TTL_DAYS,
    by: Annotated[
        str | None,
        typer.Option("--by", envvar="COOP_COORDINATOR", help="签发人（现任协调人）；尚无协调人时不填，签发第一个"),
    ] = None,
) -> None:
    """签发具名协调人令牌（只显示一次） — issue a named coordinator token."""
    with user_errors():
        url = database(get_settings())
        issued_by = coordinator_named(url, by) if by else None
        issued = issue_coordinator_token(url, person, issued_by, agreements=agreement or [], ttl_days=days)
    scope = "、".join(issued.agreements) or "全部协议"
    console.print(
        f"[green]✓[/] 协调人令牌 #{issued.id}（{issued.person}，{scope}，有效期至 {issued.expires_at:%Y-%m-%d}），"
        "请妥善保存，只显示这一次：",
        highlight=False,
    )
    print(issued.token)  # noqa: T201 - the bare token on stdout, for scripts
