"""Peers for notify tests; harmless if tests/conftest.py also loads `conftest_peers`."""

import os

import pytest
from conftest_peers import robot_sink, smtp_sink  # noqa: F401

from coop.notify.channels import ENV_PREFIX


@pytest.fixture(autouse=True)
def _no_ambient_channels(monkeypatch: pytest.MonkeyPatch) -> None:
    """Channels configured in the developer's shell must not leak into redaction or resolution tests."""
    for key in list(os.environ):
        if key.startswith(ENV_PREFIX):
            monkeypatch.delenv(key)
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
