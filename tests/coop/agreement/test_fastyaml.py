"""The libyaml fast path reads every file to exactly what the round-trip loader reads, or steps aside."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import AGREEMENT_FILES, FIXTURES, REGISTRY
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reliability.test_bad_input import SCALE, mutated_agreements

from coop.agreement.fastyaml import fast_tree
from coop.agreement.loader import _BAD_TEXT, MAX_DEPTH, MAX_NODES, LoadedAgreement, parse_agreement
from coop.errors import AgreementError

SMALL = (FIXTURES / "small.yaml").read_text(encoding="utf-8")
EXAMPLES = settings(
    max_examples=int(300 * SCALE), deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None
)


def _outcome(text: str, fast: bool) -> LoadedAgreement | list[str]:
    try:
        return parse_agreement(text, "x.yaml", fast=fast, organisations=REGISTRY)
    except AgreementError as exc:
        return [str(p) for p in exc.problems]


def _same_either_way(text: str) -> None:
    fast, slow = _outcome(text, True), _outcome(text, False)
    if isinstance(slow, LoadedAgreement):
        assert isinstance(fast, LoadedAgreement)
        assert (fast.agreement, fast.content_hash, fast.clause_lines) == (
            slow.agreement,
            slow.content_hash,
            slow.clause_lines,
        )
    else:
        assert fast == slow  # errors always come from the round-trip loader, with their lines


def _takes_fast_path(text: str) -> bool:
    return fast_tree(text, MAX_NODES, MAX_DEPTH, _BAD_TEXT) is not None


@pytest.mark.parametrize("path", [*AGREEMENT_FILES, *sorted(FIXTURES.glob("*.yaml"))], ids=lambda p: p.name)
def test_shipped_and_fixture_files_read_the_same_on_the_fast_path(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert _takes_fast_path(text)
    _same_either_way(text)


# Plain scalars YAML 1.1 (libyaml's own resolver) and 1.2 (the round-trip loader) read differently.
TOKENS = [
    "yes",
    "no",
    "on",
    "off",
    "y",
    "017",
    "0o17",
    "0x1F",
    "1_000",
    "1e3",
    "1.10",
    "1:20",
    "~",
    "null",
    "",
    "True",
    "TRUE",
    ".inf",
    "-.5",
    "+1",
    "2026-01-02",
    "2026-1-2",
    "2026-01-02 10:00:00",
    "2026-01-02T10:00:00Z",
    "渝北区",
    "'1.10'",
    '"2026-01-02"',
    "|\n          多行\n          文本",
    "!!str 5",
    "!!int '5'",
    "&a 5",
    "*a",
    "=",
    "<<",
]


@EXAMPLES
@given(
    st.sampled_from(
        ["id: 1.1", "title: 联合培训", "targets: {participants: 50}", "window_days: 20", "signed: 2025-09-01"]
    ),
    st.sampled_from(TOKENS),
)
def test_any_scalar_in_any_place_reads_the_same(place: str, token: str) -> None:
    key, _, old = place.partition(": ")
    value = "{participants: " + token + "}" if key == "targets" else token
    _same_either_way(SMALL.replace(place, f"{key}: {value}", 1))


@EXAMPLES
@given(mutated_agreements())
def test_mutated_agreements_read_the_same(text: str) -> None:
    _same_either_way(text)


@pytest.mark.parametrize(
    "edit",
    [
        ("id: test-small", "id: test-small\nid: again"),  # duplicate key
        ("id: test-small", "defaults: &d {kind: training}\nid: test-small"),  # anchors and merges
        ("title: 测试合作协议", "title: !custom 测试合作协议"),  # a tag
        ("title: 测试合作协议", 'title: "测试\\u0001协议"'),  # text that cannot be stored
        ("# A small", "%YAML 1.1\n---\n# A small"),
    ],
)
def test_doubtful_files_take_the_slow_path_and_get_its_answer(edit: tuple[str, str]) -> None:
    text = SMALL.replace(*edit, 1)
    assert not _takes_fast_path(text) or "defaults" in text
    _same_either_way(text)


def test_numeric_clause_ids_keep_their_digits_and_lines() -> None:
    loaded = parse_agreement(SMALL.replace("id: 1.2", "id: 1.20", 1), "x.yaml")
    ids = [c.id for p in loaded.agreement.programmes for c in p.clauses]
    assert "1.20" in ids and loaded.clause_lines["1.20"] == SMALL.splitlines().index("      - id: 1.2") + 1
