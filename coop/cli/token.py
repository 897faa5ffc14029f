"""`coop token …`: API tokens for departments and auditors — issued and revoked in the ledger."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from coop.access import Role
from coop.cli._common import console, database, user_errors
from coop.errors import CoopError
from coop.services.coordinators import DEFAULT_TTL_DAYS, issue_access_token, list_tokens, revoke_token
from coop.settings import get_settings

app = typer.Typer(help="接口令牌 API tokens（部门 / 审计）", no_args_is_help=True)


@app.command("issue")
def token_issue(
    department: Annotated[str | None, typer.Option(help="部门令牌：单位/部门")] = None,
    auditor: Annotated[str | None, typer.Option(help="审计令牌：审计人员姓名")] = None,
    label: Annotated[str | None, typer.Option(help="备注（记入台账的操作人名称）")] = None,
    days: Annotated[int, typer.Option(help="有效天数")] = DEFAULT_TTL_DAYS,
) -> None:
    """发放接口令牌（只显示一次） — issue an API token."""
    settings = get_settings()
    with user_errors():
        if (department is None) == (auditor is None):
            raise CoopError("请指定 --department 单位/部门 或 --auditor 姓名 之一")
        url = database(settings)
        if department is not None:
            issued = issue_access_token(
                url, Role.department, label or department, settings.actor, department=department, ttl_days=days
            )
        else:
            issued = issue_access_token(url, Role.auditor, label or f"审计 {auditor}", settings.actor, ttl_days=days)
    who = issued.department or issued.label
    console.print(
        f"[green]✓[/] 令牌 #{issued.id}（{issued.role}：{who}，有效期至 {issued.expires_at:%Y-%m-%d}），"
        "请妥善保存，只显示这一次：",
        highlight=False,
    )
    print(issued.token)  # noqa: T201 - the bare token on stdout, for scripts


@app.command("list")
def token_list() -> None:
    """列出令牌（不显示令牌本身） — list tokens."""
    with user_errors():
        rows = list_tokens(database(get_settings()))
    table = Table(title="接口令牌")
    for col in ("编号", "角色", "部门编号", "备注", "发放时间", "有效期至", "状态"):
        table.add_column(col)
    for row in rows:
        state = "已撤销" if row.revoked_at else "有效" if row.live else "已过期"
        table.add_row(
            str(row.id),
            row.role,
            str(row.department_id or "—"),
            row.label,
            f"{row.created_at:%Y-%m-%d %H:%M}",
            f"{row.expires_at:%Y-%m-%d}" if row.expires_at else "—",
            state,
        )
    console.print(table)


@app.command("revoke")
def token_revoke(
    token_id: Annotated[int, typer.Argument(help="令牌编号")],
    reason: Annotated[str, typer.Option(help="撤销理由（记入台账）")],
) -> None:
    """撤销令牌 — revoke a token (the reason and who revoked it go to the ledger)."""
    settings = get_settings()
    with user_errors():
        revoke_token(database(settings), token_id, reason, None, settings.actor)
    console.print(f"[green]✓[/] 令牌 #{token_id} 已撤销")
