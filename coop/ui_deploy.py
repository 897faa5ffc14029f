"""Register the coordinators' deployments the moment the Prefect server answers.

`python -m coop.ui_deploy <api url> <work pool> [<timeout s>]`, started by `coop.ui` beside the server. A `prefect
deploy --all` run after the server is up spends a third of its time importing Prefect's deploy command and the flows;
here that happens while the server is still starting (this process's imports, on the other core), then the stock
commands run in this process: the process work pool is created unless it exists (Prefect's default job template for
the type, as `prefect work-pool create --type process` makes it) and `prefect deploy --all` applies prefect.yaml.
Exit status 0 when every deployment is registered.
"""

from __future__ import annotations

import asyncio
import importlib
import sys
import time
from pathlib import Path

import httpx
import prefect.cli.deploy._commands  # noqa: F401 - what `prefect deploy` loads, imported while the server starts
import prefect.cli.deploy._core  # noqa: F401
from prefect.cli import app
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import WorkPoolCreate
from prefect.exceptions import ObjectNotFound
from prefect.workers.utilities import get_default_base_job_template_for_infrastructure_type

PROJECT_DIR = Path(__file__).resolve().parents[1]
POOL_TYPE = "process"


def import_flows() -> None:
    """Every flow module, so `prefect deploy` finds what its entrypoints import already loaded."""
    for path in sorted((PROJECT_DIR / "flows").glob("*.py")):
        if path.stem != "__init__":
            importlib.import_module(f"flows.{path.stem}")


def wait_healthy(api_url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{api_url}/health", timeout=2.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"Prefect 服务 {timeout:.0f} 秒内未就绪 (server at {api_url} not healthy)")


async def ensure_work_pool(name: str) -> None:
    """Create the pool unless it exists; an existing pool keeps its settings (an operator may have tuned them)."""
    async with get_client() as client:
        try:
            await client.read_work_pool(name)
            return
        except ObjectNotFound:
            pass
        template = await get_default_base_job_template_for_infrastructure_type(POOL_TYPE)
        await client.create_work_pool(WorkPoolCreate(name=name, type=POOL_TYPE, base_job_template=template or {}))
        print(f"已创建工作池 {name} (created work pool {name!r})", flush=True)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    api_url, pool = args[0], args[1]
    timeout = float(args[2]) if len(args) > 2 else 300.0
    import_flows()
    wait_healthy(api_url, timeout)
    asyncio.run(ensure_work_pool(pool))
    sys.argv = ["prefect", "--no-prompt", "deploy", "--all"]
    try:
        app()
    except SystemExit as done:
        return done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
