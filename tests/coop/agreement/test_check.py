"""`coop check` on text: every problem at once, Chinese first, at file:line:column, the offending mark named."""

from __future__ import annotations

from conftest import AGREEMENT_FILES, AGREEMENTS, FIXTURES

from coop.agreement.check import check_file, check_text, where

SMALL = (FIXTURES / "small.yaml").read_text(encoding="utf-8")


def _line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def _report(text: str) -> list[str]:
    return [f"{where(p)}: {p.message}" for p in check_text(text, "x.yaml")]


def test_shipped_agreements_and_registry_have_no_problems() -> None:
    for path in [*AGREEMENT_FILES, AGREEMENTS / "organisations.yaml"]:
        assert check_file(path) == [], path


def test_full_width_colon_is_named_on_its_own_line_and_later_problems_still_found() -> None:
    text = SMALL.replace("title: 测试合作协议", "title：测试合作协议").replace("signed: ", "signed: 2025/6/30 #", 1)
    report = _report(text)
    line = _line_of(text, "title：")
    column = text.splitlines()[line - 1].index("：") + 1
    assert report[0] == (
        f"x.yaml:{line}:{column}: 全角冒号“：”，请改为半角冒号“:”（冒号后留一个空格）"
        "(full-width colon after a key; use ':')"
    )
    signed = _line_of(text, "signed:")
    assert report[1].startswith(
        f"x.yaml:{signed}:1: 'signed': 日期须写成 YYYY-MM-DD，如 2025-06-30（现在写的是 '2025/6/30'）("
    )
    assert len(report) == 2


def test_every_problem_is_reported_not_just_the_first() -> None:
    text = (
        SMALL.replace("kind: patrol", "kind: picnic")
        .replace("window_days: 20", "window_days: twenty")
        .replace("        kind: picnic\n", "        kind: picnic\n        frequency: monthly\n")
    )
    report = "\n".join(_report(text))
    assert f"x.yaml:{_line_of(text, 'kind: picnic')}:9: 条款 6.1 'kind': 须是以下之一：'training'" in report
    assert "（现在写的是 'picnic'）(not one of the allowed values)" in report
    assert f"x.yaml:{_line_of(text, 'frequency')}:9: 条款 6.1 'frequency': 未知的键" in report
    assert "'recurrence.window_days': 须是整数 (Input should be a valid integer" in report
    assert len(report.splitlines()) == 3


def test_missing_and_too_short_in_chinese_with_english_after() -> None:
    text = SMALL.replace("title: 测试合作协议\n", "")
    assert any("'title': 缺少必填项 (is required but missing)" in line for line in _report(text))
    start = SMALL.index("programmes:")
    report = _report(SMALL[:start] + "programmes: []\n")
    assert report == [
        f"x.yaml:{_line_of(SMALL, 'programmes:')}:1: 'programmes': 至少要写 1 项 "
        "(List should have at least 1 item after validation, not 0)"
    ]


def test_dates_in_other_shapes_get_the_expected_form() -> None:
    text = SMALL.replace("end: 2027-08-31", "end: 2027年8月31日")
    report = "\n".join(_report(text))
    assert "'term.end': 日期须写成 YYYY-MM-DD，如 2027-08-31（现在写的是 '2027年8月31日'）" in report


def test_full_width_comma_dash_and_space_are_named() -> None:
    text = SMALL.replace("rotate: [渝北区, 长寿区, 广安市]", "rotate: [渝北区，长寿区, 广安市]")
    line = _line_of(text, "rotate:")
    column = text.splitlines()[line - 1].index("，") + 1
    assert _report(text) == [
        f"x.yaml:{line}:{column}: 列表中有全角逗号“，”，请改为半角逗号“,” (full-width comma in a [list]; use ',')"
    ]
    text = SMALL.replace("\n  - name: 渝北区", "\n  － name: 渝北区", 1)
    assert "列表项以全角符号“－”开头" in _report(text)[0]
    text = SMALL.replace("\nterm:\n  start", "\nterm:\n\u3000start", 1)
    assert "缩进里有全角空格" in _report(text)[0]


def test_todo_comments_are_problems() -> None:
    text = SMALL.replace("kind: patrol", "kind: patrol  # TODO 确认责任部门")
    line = _line_of(text, "TODO")
    column = text.splitlines()[line - 1].index("#") + 1
    assert _report(text) == [f"x.yaml:{line}:{column}: 待定事项：确认责任部门 (TODO left in the draft)"]


def test_problems_without_a_column_point_at_the_key() -> None:
    text = SMALL.replace("rotate: [渝北区, 长寿区, 广安市]", "rotate: [渝北区, 渝中区, 广安市]")
    line = _line_of(text, "渝中区")
    column = text.splitlines()[line - 1].index("rotate") + 1
    assert _report(text) == [f"x.yaml:{line}:{column}: 条款 1.1 'rotate' 指向未知的参与方 (unknown party '渝中区')"]


def test_not_utf8_is_one_problem() -> None:
    problems = check_text(SMALL.encode("gb18030"), "x.yaml")
    assert len(problems) == 1 and problems[0].message.startswith("不是 UTF-8 文本")
