"""The shipped JSON Schema: generated from the models, accepts every shipped agreement, rejects broken ones."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import AGREEMENT_FILES, AGREEMENTS, FIXTURES
from jsonschema import Draft202012Validator
from ruamel.yaml import YAML

from coop.agreement.json_schema import MODELINE, SCHEMA_FILE, agreement_json_schema, render

SMALL = (FIXTURES / "small.yaml").read_text(encoding="utf-8")
VALIDATOR = Draft202012Validator(json.loads((AGREEMENTS / SCHEMA_FILE).read_text(encoding="utf-8")))


def _as_editor_sees_it(text: str) -> Any:
    """YAML as an editor hands it to the schema: dates are text, as in JSON."""
    return json.loads(json.dumps(YAML(typ="safe", pure=True).load(text), default=str, ensure_ascii=False))


def _errors(text: str) -> list[str]:
    return [e.message for e in VALIDATOR.iter_errors(_as_editor_sees_it(text))]


def test_committed_schema_is_the_generated_one() -> None:
    committed = (AGREEMENTS / SCHEMA_FILE).read_text(encoding="utf-8")
    assert committed == render(), "regenerate: python -m coop.agreement.json_schema"
    Draft202012Validator.check_schema(agreement_json_schema())


@pytest.mark.parametrize("path", AGREEMENT_FILES, ids=lambda p: p.name)
def test_schema_accepts_every_shipped_agreement_and_each_names_it(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert text.splitlines()[0] == MODELINE
    assert _errors(text) == []


def test_schema_accepts_the_test_fixtures_and_a_registry_party() -> None:
    assert _errors(SMALL) == []
    assert _errors((FIXTURES / "notify.yaml").read_text(encoding="utf-8")) == []
    with_ref = SMALL.replace("parties:\n", "parties:\n  - ref: jilin/swd\n    coordinator: 办公室\n", 1)
    assert _errors(with_ref) == []


@pytest.mark.parametrize(
    "old, new, fragment",
    [
        ("kind: patrol", "kind: picnic", "'picnic' is not one of"),
        ("title: 测试合作协议\n", "", "'title' is a required property"),
        (
            "        kind: patrol\n",
            "        kind: patrol\n        frequency: monthly\n",
            "('frequency' was unexpected)",
        ),
        ("signed: 2025-09-01", "signed: 2025/6/30", "'2025/6/30' does not match"),
        ("window_days: 20", "window_days: twenty", "'twenty' is not of type 'integer'"),
        ("channels: [yubei-swd-wecom]", "channels: ['https://example.invalid/hook']", "does not match"),
        ("parties:\n", "parties:\n  - ref: jilin/swd\n    departments: []\n", "'departments' was unexpected"),
        ("parties:\n", "parties:\n  - name: 无部门\n", "'coordinator' is a required property"),
    ],
    ids=["kind", "missing", "unknown-key", "date", "integer", "channel-url", "ref-with-departments", "bare-party"],
)
def test_schema_rejects_broken_agreements(old: str, new: str, fragment: str) -> None:
    broken = SMALL.replace(old, new, 1)
    assert broken != SMALL
    assert any(fragment in message for message in _errors(broken)), _errors(broken)
