"""`coop outbox …`: the notification outbox — counts, listings, and dead letters sent again."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from coop.cli._common import console, database, err, user_errors
from coop.labels import OUTBOX_STATUS_LABELS
from coop.services.outbox import list_outbox, requeue_dead_letters
from coop.settings import get_settings

app = typer.Typer(help="通知发件箱 outbox：查看、重新投递死信", no_args_is_help=True)


@app.command("list")
def outbox_list(
    status: Annotated[str, typer.Option(help="pending / sending / sent / dead / all")] = "dead",
    limit: Annotated[int, typer.Option(help="最多列出几条")] = 100,
) -> None:
    """各状态消息数，以及某一状态的消息（默认死信） — list outbox messages."""
    with user_errors():
        listing = list_outbox(database(get_settings()), None if status == "all" else status, limit)
    console.print(
        "，".join(f"{OUTBOX_STATUS_LABELS[k]} {listing.counts.get(k, 0)}" for k in OUTBOX_STATUS_LABELS),
        highlight=False,
    )
    table = Table(title=f"发件箱消息（{'全部' if status == 'all' else OUTBOX_STATUS_LABELS[status]}，最新在前）")
    for col in ("编号", "状态", "渠道", "收件部门", "主题", "尝试次数", "已送达分段", "最后错误"):
        table.add_column(col)
    for r in listing.rows:
        who = r.recipient + ("" if r.recipient_role == "department" else f"（{r.recipient_role}）")
        table.add_row(
            str(r.id),
            OUTBOX_STATUS_LABELS.get(r.status, r.status),
            r.channel,
            who,
            r.subject,
            str(r.attempts),
            # A long robot message records the parts the robot took: a retry (or a requeue) goes on from the next.
            f"前 {r.parts_sent} 段" if r.parts_sent else "—",
            (r.last_error or "—")[:200],
        )
    console.print(table)


@app.command("requeue")
def outbox_requeue(
    message_id: Annotated[
        list[int] | None, typer.Option("--id", help="死信编号，可重复；不给则重新投递全部死信")
    ] = None,
) -> None:
    """把死信重新放回发件箱（记入台账），下次投递时发送 — re-queue dead letters."""
    settings = get_settings()
    with user_errors():
        done = requeue_dead_letters(database(settings), message_id, settings.actor)
    if done.not_dead:
        err.print(f"[yellow]注意[/]：{done.not_dead} 个编号不是死信，未处理", highlight=False)
    console.print(f"[green]✓[/] 已重新排队 {done.count} 条死信（台账已记录）；运行 coop notify 投递", highlight=False)
