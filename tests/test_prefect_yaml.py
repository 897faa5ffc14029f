"""prefect.yaml: a deployment for every flow, forms a coordinator can fill in Chinese, schedules in Beijing time.

Prefect draws the run form from the flow's signature and takes each parameter's description from the docstring's
`Args:` section (not from `Field(description=...)`), so this checks the schema Prefect itself computes.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import AGREEMENTS, ROOT
from prefect import Flow
from prefect.flows import load_flow_from_entrypoint
from prefect.utilities.callables import parameter_schema

CJK = re.compile(r"[\u4e00-\u9fff]")
CONFIG = yaml.safe_load((ROOT / "prefect.yaml").read_text(encoding="utf-8"))
DEPLOYMENTS: list[dict[str, Any]] = CONFIG["deployments"]
BY_NAME = {d["name"]: d for d in DEPLOYMENTS}


def _flows_in_package() -> set[str]:
    names = set()
    for path in sorted((ROOT / "flows").glob("*.py")):
        module = importlib.import_module(f"flows.{path.stem}")
        names |= {
            obj.name for obj in vars(module).values() if isinstance(obj, Flow) and obj.__module__ == module.__name__
        }
    return names


def test_every_flow_has_a_deployment_named_after_it() -> None:
    assert set(BY_NAME) == _flows_in_package()


@pytest.mark.parametrize("deployment", DEPLOYMENTS, ids=lambda d: d["name"])
def test_every_parameter_is_described_in_chinese(deployment: dict[str, Any]) -> None:
    flow = load_flow_from_entrypoint(deployment["entrypoint"])
    assert flow.name == deployment["name"]
    assert CJK.search(deployment["description"])
    assert deployment["work_pool"]["name"] == "coop"
    schema = parameter_schema(flow).model_dump()
    undescribed = [name for name, prop in schema["properties"].items() if not CJK.search(prop.get("description") or "")]
    assert undescribed == [], f"{deployment['entrypoint']}: add these to the docstring's Args section in Chinese"


def test_the_agreement_field_offers_the_shipped_agreements() -> None:
    flow = load_flow_from_entrypoint(BY_NAME["plan-agreement"]["entrypoint"])
    field = parameter_schema(flow).model_dump()["properties"]["agreement"]
    assert field["enum"] == [f"agreements/{p.name}" for p in sorted(AGREEMENTS.glob("*.yaml"))]
    assert field["default"] in field["enum"]
    # The CLI and tests still pass any path: the choices constrain the UI's form, not the flow.
    assert flow.validate_parameters({"agreement": str(Path("/elsewhere/x.yaml"))})["agreement"] == "/elsewhere/x.yaml"


def test_record_completion_outcome_is_a_choice() -> None:
    flow = load_flow_from_entrypoint(BY_NAME["record-completion"]["entrypoint"])
    assert parameter_schema(flow).model_dump()["properties"]["outcome"]["enum"] == ["done", "partial", "cannot"]


@pytest.mark.parametrize(
    ("name", "cron"),
    [("sweep-overdue", "10 0 * * *"), ("dispatch-notifications", "0 9 * * *"), ("send-weekly-digest", "30 8 * * 1")],
)
def test_schedules_run_in_beijing_time(name: str, cron: str) -> None:
    [schedule] = BY_NAME[name]["schedules"]
    assert (schedule["cron"], schedule["timezone"], schedule["active"]) == (cron, "Asia/Shanghai", True)


def test_workers_run_flows_from_the_checkout_named_by_coop_project_dir() -> None:
    assert CONFIG["pull"] == [
        {"prefect.deployments.steps.set_working_directory": {"directory": "{{ $COOP_PROJECT_DIR }}"}}
    ]
