"""`coop check`: validate agreement files without a database; every problem, with file:line:column."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from coop.agreement.check import check_file, where
from coop.cli._common import console, err


def check(
    files: Annotated[list[Path], typer.Argument(help="协议文件（YAML），可写多个", show_default=False)],
) -> None:
    """检查协议文件，列出全部问题（不需要数据库）— check agreement files; exit 1 if any is invalid."""
    total = 0
    for path in files:
        problems = check_file(path)
        total += len(problems)
        for problem in problems:
            # Not rich markup: messages quote YAML such as `[a, b]`.
            err.print(f"{where(problem)}: {problem.message}", markup=False, highlight=False, soft_wrap=True)
    if total:
        err.print(
            f"{len(files)} 个文件，共 {total} 个问题 ({total} problem(s))",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(1)
    console.print(f"{len(files)} 个文件均有效 (all valid)", markup=False, highlight=False, soft_wrap=True)
