"""`coop done`: a department's completion report, recorded with its ledger event.

With `--on YYYY-MM-DD` it is a backfill of one past completion with its real date, which only a named coordinator
may enter (`--by 姓名` or COOP_COORDINATOR); the ledger names that coordinator, as for `coop op backfill`.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, cast, get_args

import typer

from coop.cli._common import TodayOpt, console, database, day, user_errors
from coop.errors import CoopError
from coop.report import CompletionReport, Outcome
from coop.services import backfill
from coop.services.coordinators import coordinator_named
from coop.services.reports import record_report
from coop.settings import get_settings


def done(
    occurrence_id: Annotated[int, typer.Argument(help="任务编号")],
    department: Annotated[str, typer.Option(help="责任部门：单位/部门，如 渝北区/区委社会工作部")],
    outcome: Annotated[str, typer.Option(help="done / partial / cannot")] = "done",
    participants: Annotated[int | None, typer.Option(help="参与人数")] = None,
    metric: Annotated[list[str] | None, typer.Option(help="指标 name=数值，可重复")] = None,
    evidence: Annotated[list[str] | None, typer.Option(help="佐证材料链接，可重复")] = None,
    note: Annotated[str | None, typer.Option(help="说明")] = None,
    on: Annotated[
        dt.datetime | None,
        typer.Option("--on", formats=["%Y-%m-%d"], help="补录：实际完成日期 YYYY-MM-DD（需 --by 协调人）"),
    ] = None,
    by: Annotated[
        str | None,
        typer.Option("--by", envvar="COOP_COORDINATOR", help="补录时的操作人：持有有效协调人令牌的协调人姓名"),
    ] = None,
    today: TodayOpt = None,
) -> None:
    """报告任务完成情况 — report completion (goes to the ledger); `--on` backfills a past completion."""
    if on is not None:
        _backfill(occurrence_id, department, outcome, on.date(), by, participants, metric, evidence, note, today)
        return
    with user_errors():
        report = CompletionReport(
            occurrence_id=occurrence_id,
            department=department,
            outcome=parse_outcome(outcome),
            participants=participants,
            metrics=parse_metrics(metric or []),
            evidence=evidence or [],
            note=note,
        )
        # The reporting department is the actor, as in the `record-completion` flow.
        event_id = record_report(database(get_settings()), report, department)
    console.print(f"[green]✓[/] 已记录：任务 #{occurrence_id}（台账事件 #{event_id}）")


def _backfill(
    occurrence_id: int,
    department: str,
    outcome: str,
    completed_on: dt.date,
    by: str | None,
    participants: int | None,
    metric: list[str] | None,
    evidence: list[str] | None,
    note: str | None,
    today: dt.datetime | None,
) -> None:
    with user_errors():
        if parse_outcome(outcome) != "done":
            raise CoopError("--on 只能补录已完成的任务（--outcome done） (a backfill records a completion)")
        if not by:
            raise CoopError("--on 补录须由具名协调人操作：请加 --by 姓名 或设置 COOP_COORDINATOR (who backfills?)")
        url = database(get_settings())
        result = backfill.record_completion_on(
            url,
            coordinator_named(url, by),
            occurrence_id,
            department,
            completed_on,
            participants=participants,
            metrics=parse_metrics(metric or []),
            evidence=evidence or [],
            note=note,
            today=day(today),
        )
    timely = "按时" if result.on_time else "逾期"
    console.print(
        f"[green]✓[/] 已补录：任务 #{occurrence_id} 于 {completed_on} 完成"
        f"（{timely}，台账事件 #{result.event_ids[0]}）",
        highlight=False,
    )


def parse_outcome(value: str) -> Outcome:
    """`done`, `partial` or `cannot`; anything else is a clear error."""
    if value not in get_args(Outcome):
        raise CoopError(f"--outcome 只能是 done 已完成 / partial 部分完成 / cannot 无法完成（收到 '{value}'）")
    return cast(Outcome, value)


def parse_metrics(items: list[str]) -> dict[str, int]:
    """`name=123` pairs; anything else (no name, '²', '--5', '1e3') is a clear error, never a traceback."""
    metrics: dict[str, int] = {}
    for item in items:
        name, sep, value = item.partition("=")
        number = value.strip().removeprefix("-")
        # isdecimal, not isdigit: '²' is a digit that int() refuses; full-width '１２' is accepted as 12.
        if not sep or not name.strip() or not number.isdecimal():
            raise CoopError(f"指标应写作 name=整数，例如 resident_questionnaires=1200（收到 '{item}'）")
        metrics[name.strip()] = int(value)
    return metrics
