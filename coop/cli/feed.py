"""`coop feed url|revoke`: a department's (or a coordinator's per-agreement) signed iCalendar subscription URL."""

from __future__ import annotations

from typing import Annotated

import typer

from coop.cli._common import console, database, user_errors
from coop.services.feeds import feed_url, revoke_feed
from coop.settings import get_settings

app = typer.Typer(help="日历订阅 calendar feeds（Outlook、企业微信、Apple 日历）", no_args_is_help=True)

DepartmentOpt = Annotated[str | None, typer.Option(help="部门：单位/部门（或部门编号）")]
AgreementOpt = Annotated[
    str | None, typer.Option(help="协议编号：单独给出为协调人订阅该协议；与 --department 同给则在该协议内查找部门")
]


@app.command("url")
def url(department: DepartmentOpt = None, agreement: AgreementOpt = None) -> None:
    """打印日历订阅链接（长期有效，撤销后失效） — print the feed URL."""
    settings = get_settings()
    with user_errors():
        made = feed_url(database(settings), settings, settings.actor, department, agreement)
    console.print(f"{made.name} 的日历订阅（第 {made.version} 版），请在日历应用中“订阅日历”：", highlight=False)
    print(made.url)  # noqa: T201 - the bare URL on stdout, for scripts


@app.command("revoke")
def revoke(
    reason: Annotated[str, typer.Option(help="撤销理由（记入台账）")],
    department: DepartmentOpt = None,
    agreement: AgreementOpt = None,
) -> None:
    """撤销日历订阅链接：此前发出的链接全部失效 — revoke the feed's URLs."""
    settings = get_settings()
    with user_errors():
        made = revoke_feed(database(settings), settings.actor, reason, department, agreement)
    console.print(
        f"[green]✓[/] 已撤销 {made.name} 的日历订阅；如需重新订阅，请运行 coop feed url 生成第 {made.version} 版链接",
        highlight=False,
    )
