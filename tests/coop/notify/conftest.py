"""Notify tests start without channels from the developer's shell; peers come from tests/conftest_peers.py."""

import os

import pytest

from coop.notify.channels import ENV_PREFIX


@pytest.fixture(autouse=True)
def _no_ambient_channels(monkeypatch: pytest.MonkeyPatch) -> None:
    """Channels configured in the developer's shell must not leak into redaction or resolution tests."""
    for key in list(os.environ):
        if key.startswith(ENV_PREFIX):
            monkeypatch.delenv(key)
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
