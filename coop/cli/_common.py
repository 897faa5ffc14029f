"""What every command shares: the consoles, the `--today` option, the user-error wrapper, the database at start."""

from __future__ import annotations

import datetime as dt
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from coop.clock import today_in_shanghai
from coop.errors import CoopError
from coop.services import schema
from coop.settings import Settings


def _quiet_prefect() -> None:
    """Keep the shell output readable if Prefect is reached (a channel kept in a Prefect Secret block); set before
    Prefect reads its settings."""
    os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "CRITICAL")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_SERVER_LOGGING_LEVEL", "WARNING")
    # The first start on a fresh PREFECT_HOME migrates Prefect's own database; give it time on a 2-core box.
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")
    # Prefect does not create PREFECT_HOME itself; its server then dies with "unable to open database file".
    if os.environ.get("PREFECT_HOME"):
        Path(os.environ["PREFECT_HOME"]).expanduser().mkdir(parents=True, exist_ok=True)


_quiet_prefect()

# Piped output (make demo | tee) would otherwise be cut at 80 columns, truncating Chinese titles.
console = Console(width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 160)

TodayOpt = Annotated[
    dt.datetime | None, typer.Option("--today", formats=["%Y-%m-%d"], help="基准日 YYYY-MM-DD（默认今天，上海时区）")
]


@contextmanager
def user_errors() -> Iterator[None]:
    """A user mistake prints its message and exits 2; it is never a traceback."""
    try:
        yield
    except CoopError as exc:
        err.print(f"[bold red]错误[/]: {exc}", highlight=False)
        raise typer.Exit(2) from None
    except (OverflowError, UnicodeError):
        # Input no check foresaw (a date at the end of the calendar, text that is not valid Unicode): still no
        # traceback, and the value itself is not printed back (it may not even be printable).
        err.print(
            "[bold red]错误[/]: 输入的值超出范围或含有无效字符 (input out of range or not valid text)", highlight=False
        )
        raise typer.Exit(2) from None


def day(value: dt.datetime | None) -> dt.date:
    """The `--today` option as a date; today in Shanghai when not given."""
    return value.date() if value else today_in_shanghai()


def database(settings: Settings) -> str:
    """The coordinator's database, brought to the current schema: each command is its own start-up."""
    schema.upgrade(settings.database_url)
    return settings.database_url
