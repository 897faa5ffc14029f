"""The `checkpoint-ledger` deployment's flow on a temporary Prefect server: signs the head, publishes it, and
refuses (the run fails) when the chain was rewritten."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from conftest_web import plan_small, tamper
from prefect.client.orchestration import get_client

from coop.errors import CoopError
from coop.services import verification
from coop.settings import get_settings
from flows.checkpoint_ledger import checkpoint_ledger

pytestmark = pytest.mark.usefixtures("prefect_server")


async def _artifact(key: str) -> str:
    async with get_client() as client:
        latest = await client.read_latest_artifacts()
    return next(str(a.data) for a in latest if a.key == key)


def test_the_flow_signs_the_head_and_refuses_a_rewritten_chain(
    db_env: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = verification.keygen(tmp_path / "ledger.pem")
    monkeypatch.setenv("COOP_LEDGER_KEY_FILE", str(key.private))
    monkeypatch.setenv("COOP_CHECKPOINT_FILE", str(tmp_path / "checkpoints.jsonl"))
    get_settings.cache_clear()
    plan_small(db_env)
    done = checkpoint_ledger()
    [line] = (tmp_path / "checkpoints.jsonl").read_text(encoding="utf-8").splitlines()
    assert json.loads(line)["event_id"] == done.checkpoint.event_id and done.checkpoint.key_id == key.key_id
    assert f"台账签名检查点：事件 #{done.checkpoint.event_id}" in asyncio.run(_artifact("ledger-checkpoint"))
    assert verification.verify_ledger(get_settings()).ok
    tamper(db_env, "UPDATE ledger_event SET actor = '冒名者' WHERE id = 1")
    with pytest.raises(CoopError, match="拒绝签署"):
        checkpoint_ledger()
    assert len((tmp_path / "checkpoints.jsonl").read_text(encoding="utf-8").splitlines()) == 1
