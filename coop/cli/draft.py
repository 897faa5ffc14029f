"""`coop draft`: a YAML draft from a signed agreement (.docx, or .pdf with a text layer), TODOs left for decisions."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from coop.agreement.check import check_text
from coop.cli._common import console, user_errors
from coop.services.draft import draft_agreement


def draft(
    document: Annotated[Path, typer.Argument(help="签署的协议文本（.docx，或带文字层的 .pdf）", show_default=False)],
    output: Annotated[Path | None, typer.Option("--output", "-o", help="草稿文件（默认与原文同名 .yaml）")] = None,
    agreement_id: Annotated[str | None, typer.Option("--id", help="协议编号（字母、数字和 -）")] = None,
    force: Annotated[bool, typer.Option("--force", help="覆盖已有的草稿文件")] = False,
) -> None:
    """从签署的 Word/PDF 协议生成 YAML 草稿，待定事项留作 TODO — draft an agreement file from a document."""
    target = output or document.with_suffix(".yaml")
    with user_errors():
        text = draft_agreement(document, target, agreement_id, overwrite=force)
    todo = sum(1 for p in check_text(text, str(target)) if p.message.startswith("待定事项"))
    console.print(
        f"已生成草稿 {target}：{todo} 处待定事项（TODO）。逐条决定后运行 coop check {target}",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
