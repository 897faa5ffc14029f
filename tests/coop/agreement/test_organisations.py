"""Reading the organisation registry (organisations.yaml): every problem as file:line, in Chinese, nothing else."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import FIXTURES

from coop.agreement.loader import MAX_FILE_BYTES, load_agreement, load_organisations, repair_typography
from coop.agreement.organisations import Organisations
from coop.errors import AgreementError, Problem


def problems_of(path: Path) -> list[tuple[str, int | None, int | None, str]]:
    with pytest.raises(AgreementError) as exc:
        load_organisations(path)
    assert str(exc.value) == "\n".join(str(p) for p in exc.value.problems)
    return [(p.file, p.line, p.column, p.message) for p in exc.value.problems]


def registry(tmp_path: Path, text: str | bytes) -> Path:
    p = tmp_path / "organisations.yaml"
    if isinstance(text, bytes):
        p.write_bytes(text)
    else:
        p.write_text(text, encoding="utf-8")
    return p


def test_a_registry_reads_into_organisations_with_their_ids(tmp_path: Path) -> None:
    p = registry(
        tmp_path,
        "organisations:\n"
        "  - id: sichuan/swd\n"
        "    name: 四川省委社会工作部\n"
        "    coordinator: 办公室\n"
        "    departments: [{name: 办公室}]\n",
    )
    orgs = load_organisations(str(p))
    assert [(o.id, o.name, [d.name for d in o.departments]) for o in orgs.organisations] == [
        ("sichuan/swd", "四川省委社会工作部", ["办公室"])
    ]


def test_an_empty_registry_has_no_organisations(tmp_path: Path) -> None:
    assert load_organisations(registry(tmp_path, "# nothing registered yet\n")) == Organisations()


def test_a_missing_registry_says_it_cannot_be_read(tmp_path: Path) -> None:
    p = tmp_path / "organisations.yaml"
    assert problems_of(p) == [(str(p), None, None, "无法读取文件：No such file or directory (cannot read file)")]


def test_a_missing_agreement_file_says_it_cannot_be_read(tmp_path: Path) -> None:
    p = tmp_path / "agreement.yaml"
    with pytest.raises(AgreementError) as exc:
        load_agreement(p)
    assert exc.value.problems == [Problem(str(p), None, "无法读取文件：No such file or directory (cannot read file)")]


def test_an_agreement_file_is_named_by_its_path_in_what_it_loads_and_in_its_errors(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text((FIXTURES / "small.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    assert load_agreement(good).path == str(good)
    bad = tmp_path / "bad.yaml"
    bad.write_text("id: x\n", encoding="utf-8")
    with pytest.raises(AgreementError) as exc:
        load_agreement(bad)
    assert {p.file for p in exc.value.problems} == {str(bad)}


def test_a_registry_over_the_size_limit_is_refused_and_one_at_the_limit_is_read(tmp_path: Path) -> None:
    body = "organisations: []\n"
    at_limit = body + "#" * (MAX_FILE_BYTES - len(body) - 1) + "\n"
    assert len(at_limit.encode()) == MAX_FILE_BYTES
    assert load_organisations(registry(tmp_path, at_limit)) == Organisations()
    p = registry(tmp_path, at_limit + "\n")
    assert problems_of(p) == [
        (
            str(p),
            None,
            None,
            f"文件有 {MAX_FILE_BYTES + 1} 字节，超过上限 {MAX_FILE_BYTES} "
            f"(file is {MAX_FILE_BYTES + 1} bytes; the limit is {MAX_FILE_BYTES})",
        )
    ]


def test_a_registry_that_is_not_utf8_names_the_byte(tmp_path: Path) -> None:
    p = registry(tmp_path, "organisations: []\n# 办公室\n".encode("gb18030"))
    assert problems_of(p) == [
        (str(p), None, None, "不是 UTF-8 文本（第 20 字节）；请另存为 UTF-8 (not UTF-8 text, byte 20)")
    ]


@pytest.mark.parametrize(
    ("text", "line", "column", "message"),
    [
        (
            "organisations: [\n",
            2,
            1,
            "YAML 语法错误 (YAML syntax): expected the node content, but found '<stream end>'",
        ),
        (
            "organisations: []\norganisations: []\n",
            2,
            1,
            'YAML 语法错误 (YAML syntax): found duplicate key "organisations" with value "[]" (original value: "[]")',
        ),
        # A full-width colon is named on its own line rather than as the syntax error it causes further down.
        (
            "organisations：\n  - id: a\n",
            1,
            14,
            "全角冒号“：”，请改为半角冒号“:”（冒号后留一个空格）(full-width colon after a key; use ':')",
        ),
        # ruamel builds dates while parsing: an impossible one is an error without a position.
        (
            "organisations: []\nsigned: 2026-02-30\n",
            None,
            None,
            "YAML 语法错误 (YAML syntax): day is out of range for month",
        ),
        ("- sichuan/swd\n", 1, None, "组织名录须是一个映射：organisations: [...]"),
        (
            'organisations:\n  - id: sichuan/swd\n    name: "a\\0b"\n',
            3,
            None,
            "文本含 U+0000，是无法保存的控制字符或损坏字符 (text contains U+0000, a control code or broken character)",
        ),
        (
            "organisations:\n  - name: 四川省委社会工作部\n    coordinator: 办公室\n"
            "    departments: [{name: 办公室}]\n",
            2,
            5,
            "organisations 四川省委社会工作部 'id': 缺少必填项 (is required but missing)",
        ),
    ],
)
def test_a_bad_registry_names_file_line_and_column(
    tmp_path: Path, text: str, line: int | None, column: int | None, message: str
) -> None:
    p = registry(tmp_path, text)
    assert problems_of(p) == [(str(p), line, column, message)]


def test_repairing_typography_replaces_each_full_width_mark_and_nothing_else() -> None:
    text = "title：联合培训\nkind： patrol\nparties：\n　 - name: 渝北区\n  － 长寿区\n"
    assert repair_typography(text) == "title: 联合培训\nkind: patrol\nparties:\n   - name: 渝北区\n  - 长寿区\n"
    assert (
        repair_typography("rotate: [渝北区，长寿区]\nnote: 你好，世界\n")
        == "rotate: [渝北区, 长寿区]\nnote: 你好，世界\n"
    )
