"""The loader's bounds (values, depth) hold at their exact edge, and every refusal names its file and line.

These run the round-trip path (`fast=False`), the one that explains errors; the fast path hands anything it
doubts to it.
"""

from __future__ import annotations

import pytest
from conftest import FIXTURES

from coop.agreement import loader
from coop.agreement.loader import MAX_DEPTH, parse_agreement
from coop.errors import AgreementError

SMALL = (FIXTURES / "small.yaml").read_text(encoding="utf-8")
NESTED = f"嵌套超过 {MAX_DEPTH} 层 (nested deeper than {MAX_DEPTH} levels)"
NOT_A_MAPPING = (
    "文件须是一个映射，包含 id、title、signed、term、parties、programmes "
    "(the file must be a mapping with id, title, signed, term, parties, programmes)"
)


def problems(text: str) -> list[tuple[str, int | None, str]]:
    with pytest.raises(AgreementError) as exc:
        parse_agreement(text, "x.yaml", fast=False)
    return [(p.file, p.line, p.message) for p in exc.value.problems]


def nested_lists(depth: int) -> str:
    """`a:` holding lists nested so that the innermost one sits at `depth` (the file itself is depth 0)."""
    return "a: " + "[" * depth + "]" * depth + "\n"


def test_nesting_exactly_at_the_limit_is_not_refused_for_its_depth() -> None:
    assert all(NESTED not in message for _, _, message in problems(nested_lists(MAX_DEPTH)))


def test_one_level_past_the_limit_is_refused() -> None:
    assert problems(nested_lists(MAX_DEPTH + 1)) == [("x.yaml", 1, NESTED)]


def test_a_block_mapping_too_deep_is_named_at_its_own_first_line_not_its_parents() -> None:
    # Each mapping starts on the line after its key: the one at depth 13 starts on line 14, its key is on line 13.
    text = "".join(f"{'  ' * level}k{level}:\n" for level in range(MAX_DEPTH + 1)) + "  " * (MAX_DEPTH + 1) + "x: 1\n"
    assert problems(text) == [("x.yaml", MAX_DEPTH + 2, NESTED)]


def test_a_plain_value_too_deep_is_named_at_the_line_of_the_list_holding_it() -> None:
    text = "a: 1\nb:\n  " + "[" * MAX_DEPTH + "deep" + "]" * MAX_DEPTH + "\n"
    assert problems(text) == [("x.yaml", 3, NESTED)]


@pytest.mark.parametrize(("limit", "refused"), [(5, False), (4, True)])
def test_the_value_count_holds_at_its_edge(monkeypatch: pytest.MonkeyPatch, limit: int, refused: bool) -> None:
    # Five values: the file's mapping, the list, and its three items (keys are not values).
    monkeypatch.setattr(loader, "MAX_NODES", limit)
    too_many = (
        "x.yaml",
        None,
        f"值超过 {limit} 个（YAML 锚点/别名每用一次都计数）"
        f"(more than {limit} values; YAML anchors/aliases count each time they are used)",
    )
    found = problems("a: [1, 2, 3]\n")
    assert (too_many in found) == refused
    if refused:
        assert found == [too_many]


def test_aliases_count_every_time_they_are_used_and_the_file_is_named() -> None:
    laughs = "a: &a [x,x,x,x,x,x,x,x,x,x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{','.join([f'*{chr(97 + i)}'] * 10)}]\n" for i in range(5)
    )
    [(file, line, message)] = problems(laughs)
    assert (file, line) == ("x.yaml", None)
    assert message.startswith(f"值超过 {loader.MAX_NODES} 个")


@pytest.mark.parametrize(
    ("text", "line"),
    [
        pytest.param('a: 1\nb:\n  ~: "x\\x01"\n', 3, id="the value of a null key"),
        pytest.param('a: 1\n~:\n  - "x\\x01"\n', 3, id="an item under a null key"),
        pytest.param('a:\n  b:\n    - 1\n    - "\\x01"\n', 4, id="the second item of a list"),
        pytest.param('a: 1\nb:\n  c: 2\n  "k\\x01": 3\n', 4, id="a key"),
    ],
)
def test_unstorable_text_is_named_at_its_own_line(text: str, line: int) -> None:
    message = "文本含 U+0001，是无法保存的控制字符或损坏字符 (text contains U+0001, a control code or broken character)"
    assert problems(text) == [("x.yaml", line, message)]


@pytest.mark.parametrize("text", ["- id: x\n- title: y\n", "just a sentence\n", "42\n"])
def test_a_file_that_is_not_a_mapping_is_refused_at_line_one(text: str) -> None:
    assert problems(text) == [("x.yaml", 1, NOT_A_MAPPING)]


def test_a_syntax_error_names_the_file() -> None:
    [(file, line, message)] = problems("id: [unclosed\ntitle: x\n")
    assert file == "x.yaml" and line is not None
    assert message.startswith("YAML 语法错误")


def test_a_numeric_id_merged_in_keeps_its_value_as_text() -> None:
    # A merged key has no position of its own, so its digits cannot be read from the line: its value is used.
    text = SMALL.replace("      - id: 6.1\n", "      - <<: {id: 7.25}\n")
    loaded = parse_agreement(text, "x.yaml", fast=False)
    assert [c.id for p in loaded.agreement.programmes for c in p.clauses][-1] == "7.25"


def test_unstorable_text_merged_into_the_file_is_named_at_the_mapping_that_merges_it() -> None:
    # A key merged in through `<<` has no line of its own; the file's mapping, which merges it, starts on line 1.
    message = "文本含 U+0001，是无法保存的控制字符或损坏字符 (text contains U+0001, a control code or broken character)"
    assert problems('a: 1\n<<: {z: "x\\x01"}\n') == [("x.yaml", 1, message)]
