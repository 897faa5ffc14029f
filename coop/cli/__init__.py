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

import typer  # noqa: E402

from coop.cli import (  # noqa: E402
    audit,
    check,
    db,
    draft,
    evidence,
    feed,
    notify,
    operations,
    outbox,
    plan,
    report,
    serve,
    status,
    sweep,
    token,
)

app = typer.Typer(
    help="协作通 coop：把合作协议变成按期落实、可追溯的任务。", no_args_is_help=True, add_completion=False
)
app.command()(plan.plan)
app.command("plan-batch")(plan.plan_batch)
app.command()(plan.demo)
app.command()(notify.notify)
app.command()(status.status)
app.command()(report.done)
app.command()(sweep.sweep)
app.add_typer(outbox.app, name="outbox")
app.add_typer(db.app, name="db")
app.add_typer(audit.app, name="audit")
app.add_typer(evidence.app, name="evidence")
app.add_typer(feed.app, name="feed")
app.command()(serve.serve)
app.add_typer(token.app, name="token")
app.add_typer(operations.app, name="op")
app.command()(serve.link)
app.command()(check.check)
app.command()(draft.draft)


def main() -> None:  # pragma: no cover - console script shim
    app(prog_name="coop")
