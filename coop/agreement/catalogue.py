"""The shipped agreements a coordinator picks from in the Prefect UI's run form, and keeping that form current.

The choices are read when a deployment is registered; `sync-deployments` (flows/sync_deployments.py) rewrites them in
the stored forms when files are added to or removed from the folder."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from coop.agreement.organisations import REGISTRY_FILE
from coop.settings import get_settings

# Marks a run form's field whose choices are the agreement files, so `sync-deployments` finds it in a stored schema.
CHOICES_MARK = "x-coop-choices"


def shipped_agreements(directory: Path | None = None) -> list[str]:
    """Agreement files as the flows take them (relative to the project folder unless the folder is absolute).

    The organisation registry beside them is not an agreement."""
    folder = directory if directory is not None else get_settings().agreements_dir
    return [str(path) for path in sorted(folder.glob("*.yaml")) if path.name != REGISTRY_FILE]


def agreement_choices() -> dict[str, Any]:
    """JSON-schema `enum` for the run form (none when there is no agreement to offer), marked for `sync-deployments`."""
    files = shipped_agreements()
    return {CHOICES_MARK: "agreements", "enum": files} if files else {CHOICES_MARK: "agreements"}


@dataclass(frozen=True)
class ChoicesSync:
    """What `sync-deployments` did: the files added to and removed from the forms, and the deployments updated."""

    files: tuple[str, ...]
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    updated: tuple[str, ...] = ()


def choice_fields(schema: dict[str, Any]) -> list[dict[str, Any]]:
    """The fields of a stored parameter schema (top level and nested models) that offer the agreement files."""
    models = [schema, *(schema.get("definitions") or {}).values()]
    return [p for m in models for p in (m.get("properties") or {}).values() if p.get(CHOICES_MARK) == "agreements"]


def offered(schema: dict[str, Any]) -> set[str]:
    return {f for field in choice_fields(schema) for f in field.get("enum", [])}


def with_choices(schema: dict[str, Any], files: list[str]) -> dict[str, Any]:
    """A copy of `schema` whose agreement fields offer `files` (a default no longer offered becomes the first)."""
    out = copy.deepcopy(schema)
    for field in choice_fields(out):
        field.pop("enum", None)
        if files:
            field["enum"] = list(files)
            if field.get("default") not in files and "default" in field:
                field["default"] = files[0]
    return out


def sync_markdown(sync: ChoicesSync, folder: str) -> str:
    """The `sync-deployments` artifact, in Chinese."""
    if not sync.updated:
        return (
            f"## 部署表单同步：无变化\n\n协议文件夹 `{folder}` 中共 {len(sync.files)} 份协议，"
            "与各运行表单的选项一致，未重新注册任何部署。\n"
        )
    lines = [
        "## 部署表单同步：已更新",
        "",
        f"协议文件夹 `{folder}` 中现有 {len(sync.files)} 份协议："
        f"新增 {len(sync.added)} 份，移除 {len(sync.removed)} 份。",
        "",
    ]
    lines += [f"- 新增：`{f}`" for f in sync.added]
    lines += [f"- 移除：`{f}`" for f in sync.removed]
    lines += ["", "已重新注册以下部署的运行表单（协议文件选项）：" + "、".join(sync.updated), ""]
    return "\n".join(lines)
