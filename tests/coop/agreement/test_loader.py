"""Agreement files: shipped ones load; every mistake is reported with file, line and field."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import AGREEMENT_FILES, FIXTURES

from coop.agreement.loader import load_agreement, parse_agreement
from coop.errors import AgreementError

SMALL = (FIXTURES / "small.yaml").read_text(encoding="utf-8")


def _line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def _error(text: str) -> AgreementError:
    with pytest.raises(AgreementError) as info:
        parse_agreement(text, "agreements/x.yaml")
    return info.value


@pytest.mark.parametrize("path", AGREEMENT_FILES, ids=lambda p: p.name)
def test_shipped_agreements_load(path: Path) -> None:
    loaded = load_agreement(path)
    assert loaded.agreement.programmes
    assert len(loaded.content_hash) == 64


def test_four_seed_stories_are_shipped() -> None:
    assert len(AGREEMENT_FILES) >= 4


def test_small_fixture_loads_and_keeps_clause_ids_as_written() -> None:
    loaded = parse_agreement(SMALL, "small.yaml")
    ids = [c.id for p in loaded.agreement.programmes for c in p.clauses]
    assert ids == ["1.1", "1.2", "6.1"]
    assert loaded.clause_lines["6.1"] == _line_of(SMALL, "id: 6.1")


def test_numeric_id_with_trailing_zero_is_not_read_as_float() -> None:
    text = SMALL.replace("id: 6.1", "id: 6.10")
    loaded = parse_agreement(text, "x.yaml")
    assert "6.10" in loaded.clause_lines


def test_rotate_unknown_party_names_file_line_clause_and_party() -> None:
    text = SMALL.replace("rotate: [渝北区, 长寿区, 广安市]", "rotate: [渝北区, 渝中区, 广安市]")
    err = _error(text)
    assert str(err) == (
        f"agreements/x.yaml:{_line_of(text, '渝中区')}: 条款 1.1 'rotate' 指向未知的参与方 (unknown party '渝中区')"
    )


def test_unknown_key_is_an_error_not_ignored() -> None:
    text = SMALL.replace("        kind: patrol\n", "        kind: patrol\n        frequency: monthly\n")
    err = _error(text)
    assert f"x.yaml:{_line_of(text, 'frequency')}: 条款 6.1 'frequency': 未知的键，不属于协议格式" in str(err)
    assert "(unknown key; not part of the agreement format)" in str(err)


def test_missing_field_and_bad_type_are_both_reported() -> None:
    text = SMALL.replace("title: 测试合作协议\n", "").replace("end: 2027-08-31", "end: someday")
    err = _error(text)
    messages = [p.message for p in err.problems]
    assert any("'title': 缺少必填项 (is required but missing)" in m for m in messages)
    assert any("'term.end': 日期须写成 YYYY-MM-DD，如 2025-06-30（现在写的是 'someday'）" in m for m in messages)
    assert all(p.line for p in err.problems)


def test_yaml_syntax_error_has_line() -> None:
    text = SMALL.replace("title: 联合培训", "title: [联合培训")
    err = _error(text)
    assert err.problems[0].line is not None
    assert "YAML 语法错误 (YAML syntax)" in str(err)


def test_duplicate_keys_are_errors() -> None:
    text = SMALL.replace("title: 测试合作协议\n", "title: 测试合作协议\ntitle: 另一个标题\n")
    err = _error(text)
    assert err.problems[0].line == 4
    assert 'duplicate key "title"' in str(err)


def test_recurrence_needs_exactly_one_form() -> None:
    text = SMALL.replace(
        "recurrence: {every: quarter, window_days: 20}", "recurrence: {every: quarter, once: 2026-01-05}"
    )
    err = _error(text)
    assert "条款 1.1 'recurrence': 须且只能写一种日程：rrule / every / once / deadline" in str(err)
    assert err.problems[0].line == _line_of(text, "once: 2026-01-05")


def test_once_outside_term_is_rejected() -> None:
    text = SMALL.replace("once: 2025-10-01", "once: 2030-10-01")
    assert "'recurrence.once' 2030-10-01 不在协议期 2025-09-01 – 2027-08-31 内 (outside the term)" in str(_error(text))


@pytest.mark.parametrize(
    "rule, message",
    [
        ("FREQ=SECONDLY", "finer than a day"),
        ("FREQ=FORTNIGHTLY", "not a valid RRULE"),
        ("FREQ=MONTHLY;DTSTART=20250101", "DTSTART is not allowed"),
        ("every month", "is not an RRULE"),
    ],
)
def test_bad_rrules(rule: str, message: str) -> None:
    text = SMALL.replace("FREQ=MONTHLY;INTERVAL=6;BYMONTHDAY=10", rule)
    err = _error(text)
    assert message in str(err)
    assert err.problems[0].line == _line_of(text, "rrule:")


def test_unknown_department_and_coordinator() -> None:
    text = SMALL.replace("department: 团区委}", "department: 民政局}")
    assert "'responsible'：参与方 '渝北区' 没有部门 '民政局' (unknown department '民政局' of party '渝北区')" in str(
        _error(text)
    )
    text = SMALL.replace("coordinator: 市委社会工作部", "coordinator: 组织部")
    assert "牵头联络部门 '组织部' 不在 '广安市' 的部门中" in str(_error(text))


def test_duplicate_clause_ids() -> None:
    text = SMALL.replace("id: 6.1", "id: 1.1")
    assert "条款 1.1：编号重复 (clause 1.1: id is used twice)" in str(_error(text))


def test_secrets_cannot_be_written_as_channels() -> None:
    text = SMALL.replace(
        "channels: [yubei-swd-wecom]", "channels: ['https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=SECRET']"
    )
    err = _error(text)
    assert err.problems[0].line == 14
    assert "'channels.0': 格式不对，须符合 ^[a-z0-9]" in str(err) and "should match pattern" in str(err)
    assert "SECRET" not in str(err)


def test_non_mapping_file_and_non_utf8() -> None:
    assert "文件须是一个映射" in str(_error("- a\n- b\n"))
    with pytest.raises(AgreementError, match="不是 UTF-8 文本"):
        parse_agreement(b"\xff\xfe id: x", "bad.yaml")


def test_oversize_and_deep_files_are_refused() -> None:
    with pytest.raises(AgreementError, match="超过上限"):
        parse_agreement(b"#" * (3 * 1024 * 1024), "big.yaml")
    deep = "a: " + "[" * 50 + "]" * 50
    with pytest.raises(AgreementError, match="嵌套超过 12 层"):
        parse_agreement(deep, "deep.yaml")


def test_missing_file() -> None:
    with pytest.raises(AgreementError, match="无法读取文件"):
        load_agreement("agreements/does-not-exist.yaml")


def test_comments_do_not_change_the_content_hash() -> None:
    a = parse_agreement(SMALL, "a.yaml")
    b = parse_agreement("# 注释\n" + SMALL.replace("title: 联合培训", "title: 联合培训  # 注释"), "b.yaml")
    assert a.content_hash == b.content_hash


def test_full_width_colon_is_named_on_its_line_not_the_next() -> None:
    text = SMALL.replace("title: 测试合作协议", "title：测试合作协议")
    err = _error(text)
    line = _line_of(text, "title：")
    assert [str(p) for p in err.problems] == [
        f"agreements/x.yaml:{line}: 全角冒号“：”，请改为半角冒号“:”（冒号后留一个空格）"
        "(full-width colon after a key; use ':')"
    ]
    assert err.problems[0].column == 6


def test_slashed_date_says_the_expected_form() -> None:
    err = _error(SMALL.replace("signed: 2025-09-01", "signed: 2025/6/30"))
    assert str(err) == (
        f"agreements/x.yaml:{_line_of(SMALL, 'signed:')}: 'signed': 日期须写成 YYYY-MM-DD，如 2025-06-30"
        "（现在写的是 '2025/6/30'）(Input should be a valid date or datetime, input is too short)"
    )
