"""Fixtures for the real local peers (robot HTTP sink, SMTP sink), on 127.0.0.1 ephemeral ports.

Load with `pytest_plugins = ["conftest_peers"]` in tests/conftest.py, or
`from conftest_peers import *` (needs `tests/` on sys.path, e.g. `pythonpath = ["tests"]`).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from peers.robot_sink import RobotSink
from peers.smtp_sink import SmtpSink

__all__ = ["robot_sink", "smtp_sink"]


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
