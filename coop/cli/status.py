"""`coop status`: each agreement's counts by status and the occurrences due next."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import typer
from rich.table import Table

from coop.cli._common import TodayOpt, console, database, day, user_errors
from coop.labels import chinese_date, status_label
from coop.services.status import agreement_summaries
from coop.settings import get_settings


def status(
    agreement: Annotated[str | None, typer.Option(help="协议编号")] = None,
    today: TodayOpt = None,
) -> None:
    """各协议任务汇总及近期到期事项 — status."""
    with user_errors():
        url = database(get_settings())
    print_status(url, day(today), agreement)


def print_status(database_url: str, today: dt.date, agreement: str | None) -> None:
    """Each agreement (or one): version, term, counts by status, and a table of the next ten open occurrences."""
    summaries = agreement_summaries(database_url, today, agreement)
    if not summaries:
        console.print("尚无协议。先运行 coop plan agreements/*.yaml")
        return
    for s in summaries:
        counts = "，".join(f"{status_label(k)} {v}" for k, v in sorted(s.by_status.items()))
        console.rule(f"[bold]{s.title}")
        console.print(
            f"编号 {s.id} · 第 {s.version} 版 · 期限 {s.term_start} 至 {s.term_end}\n"
            f"工程 {s.programmes} 个 · 条款 {s.clauses} 条 · 任务 {s.occurrences} 项（{counts}）"
            + (f" · 暂定日期 {s.provisional} 项" if s.provisional else "")
        )
        table = Table(title="近期到期的 10 项任务", show_lines=False)
        for col in ("编号", "截止日期", "条款", "任务", "责任单位", "承办方", "地点", "状态"):
            table.add_column(col)
        for item in s.next_due:
            table.add_row(
                str(item.occurrence_id),
                chinese_date(item.due_date) + ("（暂定）" if item.provisional else ""),
                item.clause,
                item.clause_title,
                f"{item.party}{item.department}",
                item.host or "—",
                item.location or "—",
                status_label(item.status),
            )
        console.print(table)
