"""`coop db …`: the database schema."""

from __future__ import annotations

from typing import Annotated

import typer

from coop.cli._common import console, database, user_errors
from coop.services import roles
from coop.settings import get_settings

app = typer.Typer(help="数据库 database", no_args_is_help=True)


@app.command("upgrade")
def db_upgrade() -> None:
    """把数据库升级到最新结构 — run migrations."""
    with user_errors():
        database(get_settings())
    console.print("[green]✓[/] 数据库已是最新结构")


@app.command("roles")
def db_roles(
    apply: Annotated[bool, typer.Option("--apply", help="用 COOP_DATABASE_URL 的登录（超级用户）直接执行")] = False,
    app_role: Annotated[str, typer.Option("--app", help="应用登录角色")] = "coop_app",
    owner: Annotated[str, typer.Option("--owner", help="表的所有者（运行迁移）")] = "coop_owner",
    database: Annotated[str, typer.Option(help="数据库名（只打印时使用）")] = "coop",
) -> None:
    """PostgreSQL 最小权限角色：所有者运行迁移，应用角色不能改表结构、停用触发器或清空台账 — least-privilege roles."""
    with user_errors():
        if apply:
            ran = roles.apply_roles(get_settings().database_url, app_role, owner)
        else:
            ran = roles.role_statements(database, app_role, owner) + roles.grant_statements(app_role)
    for statement in ran:
        console.print(statement + ";", highlight=False, soft_wrap=True)
    if apply:
        console.print(f"[green]✓[/] 已设置角色 {owner}（迁移）与 {app_role}（应用）", highlight=False)
