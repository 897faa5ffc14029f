"""`coop serve` (the report forms and JSON API) and `coop link` (a signed department link)."""

from __future__ import annotations

from typing import Annotated

import typer
import uvicorn

from coop.cli._common import console, database, user_errors
from coop.services.links import demo_links, department_link
from coop.settings import Settings, get_settings
from coop.web import create_app


def serve(
    host: Annotated[str, typer.Option(help="监听地址")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="端口")] = 8000,
) -> None:
    """启动网页表单与接口服务 — serve the web form and JSON API (uvicorn)."""
    settings = get_settings()
    with user_errors():
        database(settings)  # the schema is upgraded once, at start-up
        web = create_app(settings)
    console.print(f"协作通服务：http://{host}:{port}/ （接口文档 /docs）", highlight=False)
    uvicorn.run(web, host=host, port=port, log_level="info", proxy_headers=False)


def link(
    department: Annotated[str, typer.Option(help="部门：单位/部门")],
    occurrence: Annotated[
        int | None, typer.Option(help="任务编号（给出则为该任务的报告链接，否则为任务清单链接）")
    ] = None,
) -> None:
    """生成部门签名链接 — print a signed department link."""
    settings = get_settings()
    with user_errors():
        made = department_link(database(settings), settings, department, occurrence)
    print(made.url)  # noqa: T201 - the bare URL on stdout, for scripts


def print_demo_link(database_url: str, settings: Settings) -> None:
    """One working department link for the README's demo: the next open occurrence's report form and its list."""
    with user_errors():
        links = demo_links(database_url, settings)
    if links is None:
        return
    console.rule("部门报告链接（先运行 make serve 启动服务）")
    console.print(f"{links.who} · 任务 #{links.occurrence_id} {links.clause_title}：", highlight=False)
    print(links.report.url)  # noqa: T201 - unwrapped, so the link can be copied whole
    console.print("本部门任务清单：", highlight=False)
    print(links.listing.url)  # noqa: T201
