"""An agreement's content hash is its identity across releases: a field added later counts only when it is written
with a value other than its default, so files planned before it keep their hash (and their version)."""

from __future__ import annotations

import pytest
from conftest import FIXTURES

from coop.agreement.loader import parse_agreement

SMALL = (FIXTURES / "small.yaml").read_text(encoding="utf-8")
# The hash of tests/fixtures/small.yaml since a23be08 (tests/coop/test_amendments.py pins the same value).
SMALL_HASH = "6b910e21d056661e92dc4ed06b79ef52c70faa11934911b96ddf22553238bd60"


def hash_of(old: str = "", new: str = "") -> str:
    assert not old or SMALL.count(old) == 1, old
    return parse_agreement(SMALL.replace(old, new) if old else SMALL, "a.yaml").content_hash


def test_the_fixture_keeps_the_hash_it_had_before_the_later_fields_existed() -> None:
    assert hash_of() == SMALL_HASH


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("term:\n", "amended: []\nterm:\n"),
        ("term:\n", "total_targets: {}\nterm:\n"),
        ("term:\n", "metric_labels: {}\nterm:\n"),
        ("  - name: 长寿区\n", "  - name: 长寿区\n    location: null\n"),
        ("  - name: 长寿区\n", "  - name: 长寿区\n    id: null\n"),
        ("      - name: 团区委\n", "      - name: 团区委\n        id: null\n"),
        ("    title: 安全联护工程\n", "    title: 安全联护工程\n    total_targets: {}\n"),
        ("        kind: patrol\n", "        kind: patrol\n        location_from_host: false\n"),
        ("        kind: patrol\n", "        kind: patrol\n        sign_off: lead\n"),
        ("        kind: patrol\n", "        kind: patrol\n        total_targets: {}\n"),
        (
            "responsible: {party: 渝北区, department: 团区委}",
            "responsible: {party: 渝北区, department: 团区委, from_host: false}",
        ),
        ('BYMONTHDAY=10", adjust: next}\n', 'BYMONTHDAY=10", adjust: next, anchor: null}\n'),
    ],
    ids=lambda v: v.strip().split("\n")[-1].strip(),
)
def test_a_later_field_written_at_its_default_keeps_the_hash(old: str, new: str) -> None:
    assert hash_of(old, new) == SMALL_HASH


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("term:\n", "tracking_from: 2026-01-01\nterm:\n"),
        ("term:\n", "metric_labels: {participants: 参与人数}\nterm:\n"),
        ("  - name: 长寿区\n", "  - name: 长寿区\n    location: 长寿区委党校\n"),
        ("        kind: training\n", "        kind: training\n        sign_off: all\n"),
    ],
    ids=lambda v: v.strip().split("\n")[-1].strip(),
)
def test_a_later_field_written_with_a_value_changes_the_hash(old: str, new: str) -> None:
    assert hash_of(old, new) != SMALL_HASH
