"""The agreement format as JSON Schema, for editors (VS Code YAML, JetBrains) to validate and complete as one types.

Generated from the pydantic models; shipped as agreements/agreement.schema.json (regenerate with
`python -m coop.agreement.json_schema`, a test keeps the two equal). The loader stays the authority: the schema
cannot see cross-references (unknown party, department) or the organisation registry's contents.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from coop.agreement.organisations import REGISTRY_FILE
from coop.agreement.schema import Agreement

SCHEMA_FILE = "agreement.schema.json"
MODELINE = f"# yaml-language-server: $schema=./{SCHEMA_FILE}"

# Chinese titles for the fields whose models carry none (pydantic would title them "Signed", "Term" …).
_TITLES: dict[tuple[str, str], str] = {
    ("Agreement", "id"): "协议编号",
    ("Agreement", "title"): "协议名称",
    ("Agreement", "signed"): "签署日期 YYYY-MM-DD",
    ("Agreement", "term"): "协议期",
    ("Agreement", "parties"): "参与方",
    ("Agreement", "programmes"): "合作项目（一、二、……）",
    ("Term", "start"): "开始日期 YYYY-MM-DD",
    ("Term", "end"): "结束日期 YYYY-MM-DD",
    ("Party", "full_name"): "全称",
    ("Party", "departments"): "部门",
    ("Programme", "id"): "项目编号",
    ("Programme", "title"): "项目名称",
    ("Programme", "clauses"): "条款",
    ("Clause", "title"): "条款名称",
    ("Clause", "kind"): "任务类型",
    ("Clause", "responsible"): "责任部门",
    ("Clause", "recurrence"): "日程",
    ("Clause", "location"): "地点",
    ("Responsible", "party"): "责任方（参与方简称）",
    ("Responsible", "department"): "责任部门名称",
    ("Responsible", "each_party"): "每一方各自负责",
}


def agreement_json_schema() -> dict[str, Any]:
    """`Agreement.model_json_schema()`, plus Chinese titles, the registry form of a party and numeric ids."""
    schema = Agreement.model_json_schema()
    defs = schema["$defs"]
    for (model, field), title in _TITLES.items():
        target = schema if model == "Agreement" else defs[model]
        target["properties"][field]["title"] = title
    # `- ref: jilin/swd` takes name and departments from organisations.yaml (resolved by the loader); with `ref`
    # only `coordinator` may be written beside it.
    party = defs["Party"]
    required = party.pop("required")
    party["if"] = {"required": ["ref"], "properties": {"ref": {"type": "string"}}}
    party["then"] = {
        "properties": {"ref": True, "coordinator": True, "name": True},
        "additionalProperties": False,
    }
    party["else"] = {"required": required}
    party["description"] = f"参与方：直接写出（name、coordinator、departments），或 ref 引用 {REGISTRY_FILE} 中的组织"
    # YAML reads an unquoted `id: 1.1` as a number; the loader takes the digits as written, so editors may too.
    for model in ("Clause", "Programme"):
        ident = defs[model]["properties"]["id"]
        text = {k: ident.pop(k) for k in list(ident) if k not in ("title", "description")}
        ident["anyOf"] = [text, {"type": "number"}]
    _date_pattern(schema)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "协作通合作协议 (coop agreement)"
    schema["description"] = "把签署的合作协议写成可排期、可跟踪的任务；格式说明见 agreements/README.md"
    return schema


def _date_pattern(node: Any) -> None:
    """Editors need not check `format`; a pattern makes `2025/6/30` an error in every one of them."""
    if isinstance(node, dict):
        if node.get("format") == "date":
            node["pattern"] = r"^\d{4}-\d{2}-\d{2}$"
            node.setdefault("description", "日期须写成 YYYY-MM-DD，如 2025-06-30")
        for value in node.values():
            _date_pattern(value)
    elif isinstance(node, list):
        for value in node:
            _date_pattern(value)


def render() -> str:
    """The schema file's text: stable key order, Chinese kept readable, a final newline."""
    return json.dumps(agreement_json_schema(), ensure_ascii=False, indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("agreements") / SCHEMA_FILE
    target.write_text(render(), encoding="utf-8")
