"""`coop` — the shell entry point: one module per sub-app, each command a call to `coop.services`.

plan (plan, plan-batch, demo) · report (done) · status · sweep · notify · outbox · db · audit · token ·
operations (op) · evidence (cleanup) · serve (serve, link) · check · draft; `_common` holds the consoles, `--today`, the
user-error wrapper and the database start-up.
"""

from __future__ import annotations

from coop.prefect_home import ensure_prefect_home

# Before any sub-app imports Prefect (which reads PREFECT_HOME once, on import): the README's commands then use
# the project's Prefect home, as `make ui` does, without the reader setting anything.
ensure_prefect_home()

import sys  # noqa: E402
from importlib import import_module  # noqa: E402
from typing import Any  # noqa: E402

import typer  # noqa: E402

# Command → (module under coop.cli, function); sub-app → module (its `app`). Help lists them in this order.
COMMANDS: dict[str, tuple[str, str]] = {
    "plan": ("plan", "plan"),
    "plan-batch": ("plan", "plan_batch"),
    "demo": ("plan", "demo"),
    "notify": ("notify", "notify"),
    "status": ("status", "status"),
    "done": ("report", "done"),
    "sweep": ("sweep", "sweep"),
    "serve": ("serve", "serve"),
    "link": ("serve", "link"),
    "check": ("check", "check"),
    "draft": ("draft", "draft"),
}
GROUPS: dict[str, str] = {
    "outbox": "outbox",
    "db": "db",
    "audit": "audit",
    "evidence": "evidence",
    "feed": "feed",
    "token": "token",
    "op": "operations",
}


def build(only: str | None = None) -> typer.Typer:
    """The `coop` app with every command, or with `only` one (the shell's path: it imports that module alone)."""
    cli = typer.Typer(
        help="协作通 coop：把合作协议变成按期落实、可追溯的任务。", no_args_is_help=True, add_completion=False
    )
    # A callback keeps `coop status` a subcommand even when the app holds one command.
    cli.callback()(_root)
    for name, (module, function) in COMMANDS.items():
        if only in (None, name):
            cli.command(name)(getattr(import_module(f"coop.cli.{module}"), function))
    for name, module in GROUPS.items():
        if only in (None, name):
            cli.add_typer(import_module(f"coop.cli.{module}").app, name=name)
    return cli


def _root() -> None:
    """协作通 coop：把合作协议变成按期落实、可追溯的任务。"""


def main() -> None:  # pragma: no cover - console script
    """`coop …`: import only the named command's module (status, done… start in a fraction of the time)."""
    first = next((arg for arg in sys.argv[1:] if not arg.startswith("-")), None)
    only = first if first in COMMANDS or first in GROUPS else None
    build(only)(prog_name="coop")


def __getattr__(name: str) -> Any:
    # `from coop.cli import app` (tests, CliRunner): the whole app, built once on first use.
    if name == "app":
        globals()["app"] = built = build()
        return built
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
