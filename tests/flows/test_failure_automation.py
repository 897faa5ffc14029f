"""A failed coop flow run reaches the coordinators' channel through a Prefect automation (make ui registers it).

Real pieces: a temporary Prefect server (its triggers and actions services), the automation and webhook block as
`UiStack` registers them, a coop flow failing on a bad agreement file, and a local HTTP sink on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from peers.robot_sink import Received, RobotSink
from prefect import tags
from prefect.client.orchestration import get_client
from prefect.settings import PREFECT_API_URL

from coop.notify.run_failures import AUTOMATION_NAME
from coop.services.schema import upgrade
from coop.settings import get_settings
from coop.ui import UiStack
from flows.plan_agreement import plan_agreement

pytestmark = pytest.mark.usefixtures("prefect_server")


def _stack(tmp_path: Path, channel_url: str) -> UiStack:
    api = urlsplit(PREFECT_API_URL.value())
    return UiStack(
        home=tmp_path / "prefect",
        port=int(api.port or 80),
        extra_env={"COOP_COORDINATOR_CHANNEL": "coordinators", "COOP_CHANNEL_COORDINATORS": channel_url},
    )


async def _automations() -> int:
    async with get_client() as client:
        return len(await client.read_automations_by_name(AUTOMATION_NAME))


def _text(received: Received) -> tuple[str, str]:
    """(title, message) from a JSON webhook body or a WeCom text message (title on the first line)."""
    body = received.body if isinstance(received.body, dict) else json.loads(received.body)
    if received.protocol == "wecom":
        title, message = body["text"]["content"].split("\n", 1)
        return title, message
    return body["title"], body["message"]


@pytest.mark.parametrize("kind", ["hook", "wecom"])
def test_a_failed_coop_run_notifies_the_coordinators_once(
    kind: str, robot_sink: RobotSink, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    channel = robot_sink.hook_url("hook/coordinators") if kind == "hook" else robot_sink.wecom_url()
    stack = _stack(tmp_path, channel)
    assert stack.register_failure_automation() == "coordinators"
    assert stack.register_failure_automation() == "coordinators"  # `make ui` again replaces it
    assert asyncio.run(_automations()) == 1

    url = f"sqlite:///{tmp_path / 'coop.db'}"
    upgrade(url)
    monkeypatch.setenv("COOP_DATABASE_URL", url)
    get_settings.cache_clear()
    bad = tmp_path / "bad.yaml"
    bad.write_text("id: bad\ntitle: 缺少期限的协议\n", encoding="utf-8")
    try:
        with tags("coop"):  # what every run of a coop deployment carries (prefect.yaml)
            state = plan_agreement(agreement=str(bad), return_state=True)
    finally:
        get_settings.cache_clear()
    assert state.is_failed()

    deadline = time.monotonic() + 90
    while not robot_sink.messages() and time.monotonic() < deadline:
        time.sleep(0.2)
    [received] = robot_sink.messages()
    assert received.protocol == kind
    title, message = _text(received)
    assert title == "协作通运行失败：plan-agreement"
    assert "流程：plan-agreement" in message and "部署：（本地运行）" in message
    assert f"说明：{state.message}" in message and "bad.yaml" in message  # the Chinese explanation, file named
    assert message.endswith(f"查看运行：{stack.ui_url}/runs/flow-run/{state.state_details.flow_run_id}")


def test_a_channel_a_stored_webhook_cannot_sign_for_stops_make_ui(robot_sink: RobotSink, tmp_path: Path) -> None:
    from coop.ui import StackError

    with pytest.raises(StackError, match="coop-wecom"):
        _stack(tmp_path, robot_sink.dingtalk_url()).register_failure_automation()
