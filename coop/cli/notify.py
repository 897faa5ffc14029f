"""`coop notify`: decide today's reminders and escalations, then deliver every due message."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import typer

from coop.cli._common import TodayOpt, console, database, day, user_errors
from coop.notify.results import DrainReport
from coop.services.delivery import drain_outbox
from coop.services.demo import use_local_inbox
from coop.services.notifications import queue_notifications
from coop.settings import Settings, get_settings

DEMO_INBOX = Path(".coop/inbox")
SAMPLE_LINES = 30


def notify(
    today: TodayOpt = None,
    wait: Annotated[float | None, typer.Option(help="等待重试的最长秒数")] = None,
) -> None:
    """生成并投递今日提醒、督办 — dispatch notifications (what the 09:00 schedule runs)."""
    settings = get_settings()
    with user_errors():
        report = dispatch(database(settings), settings, day(today), wait)
    print_delivery(report)
    for oid, channel, error in report.dead:
        console.print(f"  [red]死信[/] #{oid} {channel}: {error}", highlight=False)


def dispatch(database_url: str, settings: Settings, today: dt.date, wait_seconds: float | None) -> DrainReport:
    """Queue today's notices (one transaction), then drain the outbox."""
    queue_notifications(database_url, today, settings)
    return drain_outbox(database_url, settings=settings, wait_seconds=wait_seconds)


def print_delivery(report: DrainReport) -> None:
    console.print(f"成功 {report.total('sent')} 封，待重试 {report.total('retry')} 封，死信 {report.total('dead')} 封")


def demo_notifications(database_url: str, settings: Settings, today: dt.date) -> None:
    """Channels nobody configured are pointed at local files, so the demo shows real deliveries offline."""
    with user_errors():
        use_local_inbox(database_url, DEMO_INBOX)
        report = dispatch(database_url, settings, today, 0)
    console.rule("通知投递（演示：未配置的渠道写入本地文件 .coop/inbox/）")
    print_delivery(report)
    files = sorted(DEMO_INBOX.resolve().glob("*.md"))
    for f in files[:40]:
        shown = f.relative_to(Path.cwd()) if f.is_relative_to(Path.cwd()) else f
        messages = f.read_text(encoding="utf-8").count("\n---\n")
        console.print(f"  {shown}  （{messages} 封）")
    if files:
        sample = files[0].read_text(encoding="utf-8").split("\n---\n")[0].splitlines()
        console.print(f"\n[bold]示例消息（{files[0].name}）：[/]")
        console.print(
            "\n".join(sample[:SAMPLE_LINES]) + ("\n……" if len(sample) > SAMPLE_LINES else ""),
            highlight=False,
            markup=False,
            soft_wrap=True,
        )
