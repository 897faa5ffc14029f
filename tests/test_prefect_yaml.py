"""prefect.yaml: a deployment for every flow, forms a coordinator can fill in Chinese, schedules in Beijing time.

Prefect draws the run form from the flow's signature and takes each parameter's description from the docstring's
`Args:` section (not from `Field(description=...)`), so this checks the schema Prefect itself computes.
"""

from __future__ import annotations

import datetime as dt
import importlib
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import AGREEMENT_FILES, ROOT
from prefect import Flow
from prefect.flows import load_flow_from_entrypoint
from prefect.utilities.callables import parameter_schema
from prefect.utilities.schema_tools.validation import validate

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
    assert field["enum"] == [f"agreements/{p.name}" for p in AGREEMENT_FILES]
    assert field["default"] in field["enum"]
    # The CLI and tests still pass any path: the choices constrain the UI's form, not the flow.
    assert flow.validate_parameters({"agreement": str(Path("/elsewhere/x.yaml"))})["agreement"] == "/elsewhere/x.yaml"


def _schema(name: str) -> dict[str, Any]:
    return parameter_schema(load_flow_from_entrypoint(BY_NAME[name]["entrypoint"])).model_dump()


def _resolve(schema: dict[str, Any], prop: dict[str, Any]) -> dict[str, Any]:
    ref = prop.get("$ref") or (prop.get("items") or {}).get("$ref")
    return schema["definitions"][ref.rsplit("/", 1)[1]] if ref else prop


def test_record_completion_outcome_is_a_chinese_choice() -> None:
    schema = _schema("record-completion")
    outcome = schema["properties"]["outcome"]
    assert _resolve(schema, outcome)["enum"] == ["已完成", "部分完成", "无法完成"] and outcome["default"] == "已完成"
    # Callers that still send the English codes are understood.
    flow = load_flow_from_entrypoint(BY_NAME["record-completion"]["entrypoint"])
    params = flow.validate_parameters({"occurrence_id": 1, "department": "甲/乙", "outcome": "cannot"})
    assert params["outcome"].code == "cannot"


def test_record_completion_metrics_are_rows_not_a_dict() -> None:
    schema = _schema("record-completion")
    metrics = schema["properties"]["metrics"]
    assert metrics["type"] == "array" and metrics["default"] == []
    row = _resolve(schema, metrics)
    assert {k: v["title"] for k, v in row["properties"].items()} == {"name": "指标", "value": "数值"}
    assert row["properties"]["value"]["type"] == "integer" and row["properties"]["value"]["minimum"] == 0


@pytest.mark.parametrize("deployment", DEPLOYMENTS, ids=lambda d: d["name"])
def test_every_field_has_a_chinese_label_and_none_only_where_empty_means_default(deployment: dict[str, Any]) -> None:
    schema = parameter_schema(load_flow_from_entrypoint(deployment["entrypoint"])).model_dump()
    text = str(schema)
    assert "database_url" not in schema["properties"] and "DATABASE_URL" not in text
    # No field offers null (the UI's "Property is type None" toggle): text and lists default to empty values, and a
    # date or number whose default means "today"/"the setting" is the plain type with no default, left empty.
    nested = [p for d in (schema.get("definitions") or {}).values() for p in (d.get("properties") or {}).items()]
    for name, prop in [*schema["properties"].items(), *nested]:
        assert "anyOf" not in prop and prop.get("type") != "null", (name, prop)
    for name, prop in schema["properties"].items():
        if "default" not in prop and name not in schema["required"]:
            assert prop.get("format") == "date" or prop["type"] in {"integer", "number"}, (name, prop)
            # What Prefect's server checks a run's parameters with: an empty (null) field is accepted.
            assert validate({name: None}, schema, ignore_required=True) == [], name
    unlabelled = [name for name, prop in schema["properties"].items() if not CJK.search(prop.get("title") or "")]
    assert unlabelled == [], f"{deployment['entrypoint']}: give these a Chinese title (flows.forms.label)"
    for definition in (schema.get("definitions") or {}).values():
        for name, prop in (definition.get("properties") or {}).items():
            assert CJK.search(prop.get("title") or ""), f"{deployment['entrypoint']}: {name}"


def test_an_empty_date_or_number_reaches_the_flow_as_its_default() -> None:
    flow = load_flow_from_entrypoint(BY_NAME["dispatch-notifications"]["entrypoint"])
    schema = parameter_schema(flow).model_dump()
    assert schema["properties"]["today"]["format"] == "date" and "default" not in schema["properties"]["today"]
    assert flow.validate_parameters({}) == {"today": None, "wait_seconds": None}
    assert flow.validate_parameters({"today": None, "wait_seconds": None}) == {"today": None, "wait_seconds": None}
    assert flow.validate_parameters({"today": "2026-03-02"})["today"] == dt.date(2026, 3, 2)
    assert validate({"wait_seconds": -1}, schema) != []  # the number keeps its bounds
    operation = load_flow_from_entrypoint(BY_NAME["coordinator-operation"]["entrypoint"])
    request = operation.validate_parameters(
        {"coordinator": "张协调", "request": {"operation": "extend", "occurrence_id": 1, "reason": "场地"}}
    )["request"]
    assert (request.due_date, request.today) == (None, None)


@pytest.mark.parametrize(
    ("name", "cron"),
    [
        ("sweep-overdue", "10 0 * * *"),
        ("dispatch-notifications", "0 9 * * *"),
        ("send-weekly-digest", "30 8 * * 1"),
        ("refresh-calendar", "0 6 * * 1"),
    ],
)
def test_schedules_run_in_beijing_time(name: str, cron: str) -> None:
    [schedule] = BY_NAME[name]["schedules"]
    assert (schedule["cron"], schedule["timezone"], schedule["active"]) == (cron, "Asia/Shanghai", True)


def test_workers_run_flows_from_the_checkout_named_by_coop_project_dir() -> None:
    assert CONFIG["pull"] == [
        {"prefect.deployments.steps.set_working_directory": {"directory": "{{ $COOP_PROJECT_DIR }}"}}
    ]
