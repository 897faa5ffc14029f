"""Every kind of mistake in an agreement file gets its own message, whole and in Chinese first, at its line and
column, and names the clause, programme, party or department it is in."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from conftest import FIXTURES

from coop.agreement.loader import load_agreement, load_organisations, parse_agreement
from coop.errors import AgreementError

SMALL = (FIXTURES / "small.yaml").read_text(encoding="utf-8")
UNKNOWN_KEY = "未知的键，不属于协议格式，见 agreements/README.md (unknown key; not part of the agreement format)"
KINDS = (
    "'training', 'exchange', 'pilot_reform', 'patrol', 'volunteer_event', 'survey', 'meeting', 'campaign', "
    "'report', 'service', 'research' or 'construction'"
)
DATE_HELP = "(Input should be a valid date or datetime, input is too short)"


def problems(old: str, new: str) -> list[tuple[int | None, int | None, str]]:
    assert SMALL.count(old) == 1, old
    with pytest.raises(AgreementError) as exc:
        parse_agreement(SMALL.replace(old, new), "x.yaml")
    assert all(p.file == "x.yaml" for p in exc.value.problems)
    return [(p.line, p.column, p.message) for p in exc.value.problems]


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        pytest.param(
            "title: 测试合作协议",
            "title: 12",
            (3, 1, "'title': 须是文本，请加引号：'12' (must be text; quote it: '12')"),
            id="a number where text belongs",
        ),
        pytest.param(
            "signed: 2025-09-01",
            "signed: 2025/9/1",
            (4, 1, f"'signed': 日期须写成 YYYY-MM-DD，如 2025-09-01（现在写的是 '2025/9/1'）{DATE_HELP}"),
            id="a date with slashes suggests the ISO form",
        ),
        pytest.param(
            "signed: 2025-09-01",
            "signed: 2025年9月1日",
            (
                4,
                1,
                "'signed': 日期须写成 YYYY-MM-DD，如 2025-09-01（现在写的是 '2025年9月1日'）"
                "(Input should be a valid date or datetime, invalid date separator, expected `-`)",
            ),
            id="a Chinese date suggests the ISO form",
        ),
        pytest.param(
            "signed: 2025-09-01",
            "signed: 2025/2/30",
            (4, 1, f"'signed': 日期须写成 YYYY-MM-DD，如 2025-06-30（现在写的是 '2025/2/30'）{DATE_HELP}"),
            id="an impossible date gets the fixed example",
        ),
        pytest.param(
            "signed: 2025-09-01",
            "signed: soon",
            (4, 1, f"'signed': 日期须写成 YYYY-MM-DD，如 2025-06-30（现在写的是 'soon'）{DATE_HELP}"),
            id="not a date at all",
        ),
        pytest.param(
            "signed: 2025-09-01",
            "signed: 20250901",
            (
                4,
                1,
                "'signed': 日期须写成 YYYY-MM-DD，如 2025-06-30（现在写的是 20250901）"
                "(Datetimes provided to dates should have zero time - e.g. be exact dates)",
            ),
            id="a number where a date belongs",
        ),
        pytest.param(
            "signed: 2025-09-01",
            "signed: [2025, 9, 1]",
            (
                4,
                1,
                "'signed': 日期须写成 YYYY-MM-DD，如 2025-06-30（现在写的是 [2025, 9, 1]）"
                "(Input should be a valid date)",
            ),
            id="a list where a date belongs",
        ),
        pytest.param(
            "window_days: 20",
            "window_days: [20]",
            (35, 38, "条款 1.1 'recurrence.window_days': 须是整数 (Input should be a valid integer)"),
            id="a list where an integer belongs",
        ),
        pytest.param(
            "each_party: true",
            "each_party: [true]",
            (41, 23, "条款 1.2 'responsible.each_party': 须是 true 或 false (Input should be a valid boolean)"),
            id="a list where a boolean belongs",
        ),
        pytest.param(
            "title: 联合培训",
            "title: [联合培训]",
            (29, 9, "条款 1.1 'title': 须是文本 (Input should be a valid string)"),
            id="a list where text belongs",
        ),
        pytest.param(
            "window_days: 20",
            "window_days: 1e400",
            (35, 38, "条款 1.1 'recurrence.window_days': Input should be a finite number"),
            id="a kind without a Chinese text keeps pydantic's English alone",
        ),
        pytest.param(
            "kind: patrol",
            "kind: walk",
            (49, 9, f"条款 6.1 'kind': 须是以下之一：{KINDS}（现在写的是 'walk'）(not one of the allowed values)"),
            id="a kind not in the list",
        ),
        pytest.param(
            "kind: patrol",
            "kind: " + "x" * 50,
            (
                49,
                9,
                f"条款 6.1 'kind': 须是以下之一：{KINDS}（现在写的是 '{'x' * 36}…）(not one of the allowed values)",
            ),
            id="a long value is cut to 40 characters",
        ),
        pytest.param(
            "kind: patrol",
            "kind: " + "x" * 39,
            (
                49,
                9,
                f"条款 6.1 'kind': 须是以下之一：{KINDS}（现在写的是 '{'x' * 36}…）(not one of the allowed values)",
            ),
            id="a value of 41 characters is cut",
        ),
        pytest.param(
            "kind: patrol",
            "kind: " + "x" * 38,
            (
                49,
                9,
                f"条款 6.1 'kind': 须是以下之一：{KINDS}（现在写的是 '{'x' * 38}'）(not one of the allowed values)",
            ),
            id="a value of exactly 40 characters shown whole",
        ),
        pytest.param(
            "window_days: 20",
            "window_days: many",
            (
                35,
                38,
                "条款 1.1 'recurrence.window_days': 须是整数 "
                "(Input should be a valid integer, unable to parse string as an integer)",
            ),
            id="not an integer",
        ),
        pytest.param(
            "window_days: 20",
            "window_days: 2.5",
            (
                35,
                38,
                "条款 1.1 'recurrence.window_days': 须是整数，不能有小数 "
                "(Input should be a valid integer, got a number with a fractional part)",
            ),
            id="a fraction",
        ),
        pytest.param(
            "window_days: 20",
            "window_days: -1",
            (35, 38, "条款 1.1 'recurrence.window_days': 须不小于 0 (Input should be greater than or equal to 0)"),
            id="below the minimum",
        ),
        pytest.param(
            "window_days: 20",
            "window_days: 100000",
            (35, 38, "条款 1.1 'recurrence.window_days': 须不大于 366 (Input should be less than or equal to 366)"),
            id="above the maximum",
        ),
        pytest.param(
            "each_party: true",
            "each_party: maybe",
            (
                41,
                23,
                "条款 1.2 'responsible.each_party': 须是 true 或 false "
                "(Input should be a valid boolean, unable to interpret input)",
            ),
            id="not a boolean",
        ),
        pytest.param(
            "evidence: [签到表, 活动照片]",
            "evidence: 签到表",
            (37, 9, "条款 1.1 'evidence': 须是列表，如 [a, b] 或每行一个 - a (Input should be a valid list)"),
            id="text where a list belongs",
        ),
        pytest.param(
            "responsible: {party: 渝北区}",
            "responsible: [渝北区]",
            (
                31,
                9,
                "条款 1.1 'responsible': 须是映射（键: 值） "
                "(Input should be a valid dictionary or instance of Responsible)",
            ),
            id="a list where a mapping belongs",
        ),
        pytest.param(
            "title: 联合培训",
            "title: ''",
            (29, 9, "条款 1.1 'title': 不能为空 (String should have at least 1 character)"),
            id="empty text",
        ),
        pytest.param(
            "title: 联合培训",
            "title: " + "长" * 300,
            (29, 9, "条款 1.1 'title': 最多 200 个字符 (String should have at most 200 characters)"),
            id="text too long",
        ),
        pytest.param(
            "channels: [yubei-swd-wecom]",
            "channels: [Yubei WeCom]",
            (
                14,
                20,
                "部门 区委社会工作部 'channels.0': 格式不对，须符合 ^[a-z0-9][a-z0-9_\\-]{0,63}$ "
                "(String should match pattern '^[a-z0-9][a-z0-9_\\-]{0,63}$')",
            ),
            id="a channel name that does not match the pattern",
        ),
        pytest.param(
            "      - name: 团区委\n",
            "      - leader: 张\n",
            (15, 9, "部门 #2 'name': 缺少必填项 (is required but missing)"),
            id="a department without a name is numbered",
        ),
        pytest.param(
            "    title: 安全联护工程\n",
            "    title: 安全联护工程\n    colour: red\n",
            (46, 5, f"项目 6 'colour': {UNKNOWN_KEY}"),
            id="an unknown key in a programme",
        ),
        pytest.param(
            "    coordinator: 市委社会工作部\n",
            "    coordinator: 市委社会工作部\n    colour: red\n",
            (22, 5, f"参与方 广安市 'colour': {UNKNOWN_KEY}"),
            id="an unknown key in a party",
        ),
        pytest.param(
            "title: 测试合作协议\n",
            "title: 测试合作协议\ncolour: red\n",
            (4, 1, f"'colour': {UNKNOWN_KEY}"),
            id="an unknown key at the top",
        ),
        pytest.param(
            "title: 测试合作协议\n",
            "",
            (1, 1, "'title': 缺少必填项 (is required but missing)"),
            id="a missing key at the top",
        ),
    ],
)
def test_a_field_mistake_is_named_where_it_is(old: str, new: str, expected: tuple[int, int, str]) -> None:
    assert problems(old, new) == [expected]


def test_a_list_over_its_length_and_a_list_for_a_mapping_are_named() -> None:
    days = ", ".join(str(dt.date(2025, 9, 1) + dt.timedelta(days=i % 700)) for i in range(1001))
    assert problems("recurrence: {once: 2025-10-01, adjust: next}", f"recurrence: {{dates: [{days}]}}") == [
        (
            42,
            22,
            "条款 1.2 'recurrence.dates': 最多写 1000 项 "
            "(List should have at most 1000 items after validation, not 1001)",
        )
    ]
    assert problems("targets: {participants: 50}", "targets: [participants]") == [
        (36, 9, "条款 1.1 'targets': 须是映射（键: 值） (Input should be a valid dictionary)")
    ]


def test_an_empty_list_and_an_unknown_key_are_both_reported() -> None:
    assert problems("parties:\n", "parties: []\nx_parties:\n") == [
        (8, 1, "'parties': 至少要写 1 项 (List should have at least 1 item after validation, not 0)"),
        (9, 1, f"'x_parties': {UNKNOWN_KEY}"),
    ]


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        pytest.param(
            '  - id: "6"\n',
            '  - id: "1"\n',
            [(44, None, "项目编号 '1' 重复 (programme id '1' is used twice)")],
            id="a programme id used twice",
        ),
        pytest.param(
            "      - id: 6.1\n",
            "      - id: 1.1\n",
            [(47, None, "条款 1.1：编号重复 (clause 1.1: id is used twice)")],
            id="a clause id used twice",
        ),
        pytest.param(
            "responsible: {party: 渝北区, department: 团区委}",
            "responsible: {party: 渝中区}",
            [(50, None, "条款 6.1 'responsible' 指向未知的参与方 (unknown party '渝中区')")],
            id="an unknown responsible party",
        ),
        pytest.param(
            "responsible: {party: 渝北区, department: 团区委}",
            "responsible: {party: 渝北区, department: 妇联}",
            [
                (
                    50,
                    None,
                    "条款 6.1 'responsible'：参与方 '渝北区' 没有部门 '妇联' "
                    "(unknown department '妇联' of party '渝北区')",
                )
            ],
            id="an unknown department of the responsible party",
        ),
        pytest.param(
            "responsible: {each_party: true}",
            "responsible: {each_party: true, department: 团区委}",
            [
                (
                    41,
                    None,
                    "条款 1.2 'responsible'：参与方 '长寿区' 没有部门 '团区委' "
                    "(party '长寿区' has no department '团区委')",
                ),
                (
                    41,
                    None,
                    "条款 1.2 'responsible'：参与方 '广安市' 没有部门 '团区委' "
                    "(party '广安市' has no department '团区委')",
                ),
            ],
            id="each party must have the named department",
        ),
        pytest.param(
            "lead: 渝北区",
            "lead: 渝中区",
            [(32, None, "条款 1.1 'lead' 指向未知的参与方 (unknown party '渝中区')")],
            id="an unknown lead",
        ),
        pytest.param(
            "co_organisers: [长寿区, 广安市]",
            "co_organisers: [长寿区, 渝中区]",
            [(33, None, "条款 1.1 'co_organisers' 指向未知的参与方 (unknown party '渝中区')")],
            id="an unknown co-organiser",
        ),
        pytest.param(
            "once: 2025-10-01",
            "once: 2030-10-01",
            [
                (
                    42,
                    None,
                    "条款 1.2 'recurrence.once' 2030-10-01 不在协议期 2025-09-01 – 2027-08-31 内 (outside the term)",
                )
            ],
            id="a date outside the term",
        ),
        pytest.param(
            'rrule: "FREQ=MONTHLY;INTERVAL=6;BYMONTHDAY=10"',
            'rrule: "FREQ=FORTNIGHTLY"',
            [
                (
                    51,
                    None,
                    "条款 6.1 'recurrence.rrule'：RRULE 无效 (invalid RRULE): "
                    "not a valid RRULE (invalid 'FREQ': FORTNIGHTLY)",
                )
            ],
            id="an invalid RRULE",
        ),
        pytest.param(
            "  - name: 广安市\n",
            "  - name: 渝北区\n",
            [
                (20, None, "参与方 '渝北区' 列了两次 (party '渝北区' is listed twice)"),
                (33, None, "条款 1.1 'co_organisers' 指向未知的参与方 (unknown party '广安市')"),
                (34, None, "条款 1.1 'rotate' 指向未知的参与方 (unknown party '广安市')"),
                (
                    50,
                    None,
                    "条款 6.1 'responsible'：参与方 '渝北区' 没有部门 '团区委' "
                    "(unknown department '团区委' of party '渝北区')",
                ),
            ],
            id="a party listed twice, and what then refers to nothing",
        ),
    ],
)
def test_a_reference_to_nothing_is_named_at_its_line(
    old: str, new: str, expected: list[tuple[int | None, int | None, str]]
) -> None:
    assert problems(old, new) == expected


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        pytest.param(
            "        kind: patrol\n",
            "        kind：patrol\n",
            (49, 13, "全角冒号“：”，请改为半角冒号“:”（冒号后留一个空格）(full-width colon after a key; use ':')"),
            id="full-width colon",
        ),
        pytest.param(
            "        kind: patrol\n",
            "\u3000      kind: patrol\n",
            (49, 1, "缩进里有全角空格“\u3000”，请改为半角空格 (full-width space in indentation)"),
            id="ideographic space in the indentation",
        ),
        pytest.param(
            "      - name: 团区委\n",
            "      － name: 团区委\n",
            (15, 7, "列表项以全角符号“－”开头，请改为半角“-” (full-width dash; use '-')"),
            id="full-width dash",
        ),
        pytest.param(
            "        channels: [yubei-swd-wecom]\n",
            "        channels: [yubei-swd-wecom，yubei-sms]\n",
            (14, 35, "列表中有全角逗号“，”，请改为半角逗号“,” (full-width comma in a [list]; use ',')"),
            id="full-width comma in a flow list",
        ),
        pytest.param(
            "        channels: [yubei-swd-wecom]\n",
            "        channels: [yubei-swd-wecom，yubei-sms，yubei-mail]\n",
            (14, 35, "列表中有全角逗号“，”，请改为半角逗号“,” (full-width comma in a [list]; use ',')"),
            id="the first of two full-width commas",
        ),
    ],
)
def test_full_width_punctuation_is_named_at_its_column(old: str, new: str, expected: tuple[int, int, str]) -> None:
    assert problems(old, new)[0] == expected


def test_nesting_deeper_than_the_limit_is_refused_at_its_line() -> None:
    deep = "[" * 14 + "]" * 14
    assert problems("targets: {suggestions: 20}", f"targets: {{suggestions: {deep}}}") == [
        (43, None, "嵌套超过 12 层 (nested deeper than 12 levels)")
    ]


@pytest.mark.parametrize("fast", [True, False])
def test_a_numeric_clause_id_keeps_its_digits_as_written_after_a_comment_too(fast: bool) -> None:
    text = SMALL.replace("      - id: 6.1\n", "      - id: 6.10   # 第六项 # 第十条\n")
    loaded = parse_agreement(text, "x.yaml", fast=fast)
    assert [c.id for p in loaded.agreement.programmes for c in p.clauses] == ["1.1", "1.2", "6.10"]


def test_a_key_merged_in_through_yaml_merge_is_named_at_the_mapping_that_merges_it() -> None:
    # A merged key has no line of its own in the YAML tree; the walk stops at the mapping holding the `<<`.
    assert problems(
        "recurrence: {once: 2025-10-01, adjust: next}",
        "recurrence: {<<: {party: 渝北区}, once: 2025-10-01, adjust: next}",
    ) == [(42, 9, f"条款 1.2 'recurrence.party': {UNKNOWN_KEY}")]


def test_a_key_written_both_quoted_and_as_a_number_is_named_at_the_quoted_one() -> None:
    # YAML keeps `"1"` and `1` apart; the loader reads both as "1", so the walk back to the line meets the quoted
    # key's text value, which it must not search for the rest of the location ("[key]") as if it were a mapping.
    assert problems("targets: {participants: 50}", 'targets: {"1": "[key]", 1: 50}') == [
        (
            36,
            19,
            "条款 1.1 'targets.1.[key]': 格式不对，须符合 ^[a-z][a-z0-9_]{0,63}$ "
            "(String should match pattern '^[a-z][a-z0-9_]{0,63}$')",
        )
    ]


def test_a_problem_of_the_whole_registry_is_labelled_as_the_whole_file_at_its_first_line(tmp_path: Path) -> None:
    # pydantic gives a check of the whole model an empty location: nothing in the file to point at but its start.
    org = (
        "  - id: sichuan/swd\n"
        "    name: 四川省委社会工作部\n"
        "    coordinator: 办公室\n"
        "    departments: [{name: 办公室}]\n"
    )
    path = tmp_path / "organisations.yaml"
    path.write_text("organisations:\n" + org + org, encoding="utf-8")
    with pytest.raises(AgreementError) as exc:
        load_organisations(path)
    assert [(p.file, p.line, p.column, p.message) for p in exc.value.problems] == [
        (str(path), 1, 1, "协议: 机构编号重复：sichuan/swd (organisation ids repeated)")
    ]


def test_a_capitalised_unknown_key_is_named_where_it_is_written(tmp_path: Path) -> None:
    """Keys are the author's words: one that starts with a capital letter is still named at its own line."""
    text = (FIXTURES / "small.yaml").read_text(encoding="utf-8")
    path = tmp_path / "capital.yaml"
    path.write_text(text.rstrip("\n") + "\nColour: red\n", encoding="utf-8")
    with pytest.raises(AgreementError) as exc:
        load_agreement(path)
    line = len(text.rstrip("\n").splitlines()) + 1
    assert [(p.line, p.column) for p in exc.value.problems] == [(line, 1)]
    assert "'Colour'" in exc.value.problems[0].message
