"""`coop evidence …`: uploaded evidence files (clean-up of uploads no report cited in time)."""

from __future__ import annotations

import typer

from coop.cli._common import console, database, user_errors
from coop.services import evidence
from coop.settings import get_settings

app = typer.Typer(help="佐证文件 evidence files", no_args_is_help=True)


@app.command("cleanup")
def cleanup() -> None:
    """删除上传后 COOP_EVIDENCE_TTL_HOURS 小时内未被任何报告引用的文件（已引用的从不删除） — remove uncited uploads."""
    settings = get_settings()
    with user_errors():
        database(settings)
        done = evidence.cleanup(settings)
    console.print(done.line(), highlight=False)
