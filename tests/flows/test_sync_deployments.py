"""sync-deployments on a temporary Prefect server: a new agreement file reaches the stored run form, and only then."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from uuid import UUID

import pytest
from conftest import AGREEMENT_FILES
from prefect.client.orchestration import get_client
from prefect.exceptions import PrefectHTTPStatusError

from coop.agreement.catalogue import CHOICES_MARK
from coop.settings import get_settings
from flows.plan_agreement import plan_agreement
from flows.sync_deployments import sync_deployments
from tasks.deployments import SYNC_KEY

pytestmark = pytest.mark.usefixtures("prefect_server")


async def _deployment(deployment_id: UUID) -> tuple[dict[str, object], object]:
    async with get_client() as client:
        deployment = await client.read_deployment(deployment_id)
    return deployment.parameter_openapi_schema["properties"]["agreement"], deployment.updated


async def _run(deployment_id: UUID, agreement: str) -> None:
    async with get_client() as client:
        await client.create_flow_run_from_deployment(deployment_id, parameters={"agreement": agreement})


async def _artifact() -> str:
    async with get_client() as client:
        latest = await client.read_latest_artifacts()
    return next(str(a.data) for a in latest if a.key == SYNC_KEY)


def test_a_new_agreement_file_reaches_the_form_and_an_unchanged_folder_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "agreements"
    folder.mkdir()
    first, second = (folder / p.name for p in AGREEMENT_FILES[:2])
    shutil.copy(AGREEMENT_FILES[0], first)
    monkeypatch.setenv("COOP_AGREEMENTS_DIR", str(folder))
    get_settings.cache_clear()
    try:
        deployment_id = plan_agreement.to_deployment(name="sync-test").apply()
        field, _ = asyncio.run(_deployment(deployment_id))
        assert field[CHOICES_MARK] == "agreements" and str(first) not in field["enum"]  # registered from agreements/

        sync = sync_deployments()
        assert "sync-test" in sync.updated and sync.files == (str(first),)
        field, _ = asyncio.run(_deployment(deployment_id))
        assert field["enum"] == [str(first)] and field["default"] == str(first)

        # A file added to the folder: the server refuses it until the form is synced, then offers it.
        shutil.copy(AGREEMENT_FILES[1], second)
        with pytest.raises(PrefectHTTPStatusError, match="409"):
            asyncio.run(_run(deployment_id, str(second)))
        sync = sync_deployments()
        assert (sync.added, sync.removed) == ((str(second),), ()) and "sync-test" in sync.updated
        field, updated = asyncio.run(_deployment(deployment_id))
        assert field["enum"] == sorted([str(first), str(second)])
        asyncio.run(_run(deployment_id, str(second)))
        report = asyncio.run(_artifact())
        assert "新增 1 份，移除 0 份" in report and f"新增：`{second}`" in report and "sync-test" in report

        # Nothing changed: nothing is written.
        sync = sync_deployments()
        assert sync.updated == () and asyncio.run(_deployment(deployment_id))[1] == updated
        assert "无变化" in asyncio.run(_artifact())

        first.unlink()
        sync = sync_deployments()
        assert sync.removed == (str(first),) and asyncio.run(_deployment(deployment_id))[0]["enum"] == [str(second)]
    finally:
        get_settings.cache_clear()
