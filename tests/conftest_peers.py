"""Fixtures for the real local peers (robot HTTP sink, SMTP sink), on 127.0.0.1 ephemeral ports.

Load with `pytest_plugins = ["conftest_peers"]` in tests/conftest.py, or
`from conftest_peers import *` (needs `tests/` on sys.path, e.g. `pythonpath = ["tests"]`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from peers.robot_sink import RobotSink
from peers.smtp_sink import SmtpSink

__all__ = ["notify_channels", "robot_sink", "smtp_sink"]


@pytest.fixture
def robot_sink() -> Iterator[RobotSink]:
    """A fresh robot sink per test, so recorded messages and queued faults never leak between tests."""
    sink = RobotSink().start()
    try:
        yield sink
    finally:
        sink.stop()


@pytest.fixture
def smtp_sink() -> Iterator[SmtpSink]:
    sink = SmtpSink().start()
    try:
        yield sink
    finally:
        sink.stop()


@pytest.fixture
def notify_channels(robot_sink: RobotSink, smtp_sink: SmtpSink, monkeypatch: pytest.MonkeyPatch) -> RobotSink:
    """The channels named in tests/fixtures/notify.yaml, each pointed at a real local peer."""
    for name in list(os.environ):
        if name.startswith("COOP_CHANNEL_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("COOP_CHANNEL_YUBEI_WECOM", robot_sink.wecom_url())
    monkeypatch.setenv("COOP_CHANNEL_YUBEI_LEADER_DINGTALK", robot_sink.dingtalk_url())
    monkeypatch.setenv("COOP_CHANNEL_CHANGSHOU_FEISHU", robot_sink.feishu_url())
    monkeypatch.setenv("COOP_CHANNEL_GUANGAN_EMAIL", smtp_sink.mailto_url())
    monkeypatch.setenv("COOP_CHANNEL_GUANGAN_HOOK", robot_sink.hook_url())
    return robot_sink
