"""The dispatch and weekly-digest flows on a temporary Prefect server, delivering to real local sinks."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
from conftest import FIXTURES
from peers.robot_sink import RobotSink
from peers.smtp_sink import SmtpSink
from prefect.client.orchestration import get_client

from flows.dispatch_notifications import dispatch_notifications
from flows.plan_agreement import plan_agreement
from flows.send_weekly_digest import send_weekly_digest

pytestmark = pytest.mark.usefixtures("prefect_server")
TODAY = dt.date(2026, 3, 20)


async def _artifact(key: str) -> str:
    async with get_client() as client:
        found = [a for a in await client.read_latest_artifacts() if a.key == key]
        assert found
        return str(found[0].data)


def test_dispatch_flow_sends_once_and_reports_per_channel(
    db_env: str, notify_channels: RobotSink, smtp_sink: SmtpSink
) -> None:
    plan_agreement(agreement=str(FIXTURES / "notify.yaml"), today=TODAY)
    report = dispatch_notifications(today=TODAY, wait_seconds=0)
    assert report.total("sent") == 5
    markdown = asyncio.run(_artifact("notifications"))
    assert "成功 **5**" in markdown and "| yubei-wecom | 渝北区区委社会工作部 | 1 | 0 | 0 |" in markdown
    again = dispatch_notifications(today=TODAY, wait_seconds=0)
    assert again.total("sent") == 0 and len(notify_channels.received) == 4 and len(smtp_sink.mails) == 1


def test_weekly_digest_once_per_week(db_env: str, notify_channels: RobotSink) -> None:
    plan_agreement(agreement=str(FIXTURES / "notify.yaml"), today=TODAY)
    first = send_weekly_digest(today=TODAY, wait_seconds=0)
    assert first.total("sent") >= 3
    [wecom] = notify_channels.messages("wecom")
    assert "【协作通周报】" in wecom.body["markdown"]["content"]
    assert send_weekly_digest(today=TODAY + dt.timedelta(days=1), wait_seconds=0).total("sent") == 0
