"""Tests for coop.calendar's files and festivals: the season file, the overrides file's `official:` key, and
`festival_date`'s bounds. Messages are compared whole, with their line: a person fixes the file from them."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from coop.calendar import Season, SeasonCalendar, WorkdayCalendar, festival_date
from coop.errors import CoopError


def write(tmp_path: Path, text: str, name: str = "seasons.yaml") -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def span(s: Season) -> tuple[str, str, str, bool]:
    return (s.name, s.start.isoformat(), s.end.isoformat(), s.provisional)


def season_error(tmp_path: Path, text: str) -> tuple[Path, str]:
    p = write(tmp_path, text)
    with pytest.raises(CoopError) as exc:
        SeasonCalendar(p)
    return p, str(exc.value)


SPEC_HELP = (
    ' 须写成 "MM-DD"（每年同一天，如 "07-01"）或 {anchor: spring_festival, offset: -21}'
    "（节日前后若干天，anchor 可选 spring_festival、qingming、dragon_boat、mid_autumn、national_day）"
)


# -- a valid season file ----------------------------------------------------------------


def test_a_province_file_gives_listed_years_as_final_and_other_years_by_the_rule(tmp_path: Path) -> None:
    p = write(
        tmp_path,
        "shipped_default: false\n"
        "seasons:\n"
        "  summer_vacation:\n"
        "    start: ' 07-10 '\n"
        "    end: '08-31'\n"
        "    years:\n"
        "      2026: [2026-07-04, 2026-08-30]\n"
        "  camp_9:\n"
        "    name: 夏令营\n"
        "    start: {anchor: dragon_boat, offset: 3}\n"
        "    end: {anchor: national_day}\n",
    )
    seasons = SeasonCalendar(p)
    assert seasons.shipped_default is False
    assert seasons.names == ["camp_9", "summer_vacation"]
    assert span(seasons.season("summer_vacation", 2026)) == ("summer_vacation", "2026-07-04", "2026-08-30", False)
    assert span(seasons.season("summer_vacation", 2027)) == ("summer_vacation", "2027-07-10", "2027-08-31", True)
    # 端午 2025 is 31 May, three days later is 3 June; 国庆 without an offset is 1 October itself.
    assert span(seasons.season("camp_9", 2025)) == ("camp_9", "2025-06-03", "2025-10-01", True)
    assert repr(seasons) == f"SeasonCalendar(path={str(p)!r})"


def test_a_season_label_defaults_to_the_known_chinese_name_then_to_the_season_id(tmp_path: Path) -> None:
    seasons = SeasonCalendar(
        write(
            tmp_path,
            "seasons:\n"
            "  summer_vacation: {start: '07-10', end: '08-31'}\n"
            "  winter_vacation: {start: '01-20', end: '02-20'}\n"
            "  camp: {start: '07-10', end: '07-20'}\n"
            "  fair: {name: 展会, start: '09-01', end: '09-03'}\n",
        )
    )
    assert [seasons.label(n) for n in seasons.names] == ["camp", "展会", "暑假", "寒假"]
    assert seasons.label("unknown_one") == "unknown_one"


def test_a_listed_year_of_a_shipped_default_file_stays_provisional(tmp_path: Path) -> None:
    seasons = SeasonCalendar(
        write(
            tmp_path,
            "shipped_default: true\n"
            "seasons:\n"
            "  summer_vacation:\n"
            "    start: '07-10'\n"
            "    end: '08-31'\n"
            "    years: {2026: [2026-07-04, 2026-07-04]}\n",
        )
    )
    assert seasons.shipped_default is True
    # a one-day season (end == start) is allowed
    assert span(seasons.season("summer_vacation", 2026)) == ("summer_vacation", "2026-07-04", "2026-07-04", True)


def test_without_shipped_default_a_file_is_a_real_school_calendar(tmp_path: Path) -> None:
    seasons = SeasonCalendar(write(tmp_path, "seasons:\n  exams:\n    start: '06-07'\n    end: '06-07'\n    years:\n"))
    assert seasons.shipped_default is False
    # start == end is one day in the same year, not a season running over New Year
    assert span(seasons.season("exams", 2026)) == ("exams", "2026-06-07", "2026-06-07", True)


def test_a_season_that_runs_over_new_year_ends_in_the_next_year(tmp_path: Path) -> None:
    seasons = SeasonCalendar(write(tmp_path, "seasons:\n  winter_camp: {start: '12-20', end: '01-10'}\n"))
    assert span(seasons.season("winter_camp", 2026)) == ("winter_camp", "2026-12-20", "2027-01-10", True)
    # an anchored end is taken from the next year's festival too: 春节 2027 is 6 February
    seasons = SeasonCalendar(
        write(tmp_path, "seasons:\n  w: {start: '12-20', end: {anchor: spring_festival, offset: -1}}\n", "b.yaml")
    )
    assert span(seasons.season("w", 2026)) == ("w", "2026-12-20", "2027-02-05", True)


@pytest.mark.parametrize("offset", [-120, 120])
def test_an_anchor_offset_of_up_to_120_days_either_way_is_accepted(tmp_path: Path, offset: int) -> None:
    seasons = SeasonCalendar(
        write(tmp_path, f"seasons:\n  s: {{start: {{anchor: national_day, offset: {offset}}}, end: '12-31'}}\n")
    )
    start = seasons.season("s", 2026).start
    assert (start - date(2026, 10, 1)).days == offset


def test_unknown_season_lists_the_defined_ones_or_none(tmp_path: Path) -> None:
    p = write(
        tmp_path,
        "seasons:\n  winter_vacation: {start: '01-20', end: '02-20'}\n  camp: {start: '07-01', end: '07-09'}\n",
    )
    with pytest.raises(CoopError) as exc:
        SeasonCalendar(p).season("summer", 2026)
    assert str(exc.value) == (
        f"{p}: 没有名为 'summer' 的时段；已定义：camp（camp）、winter_vacation（寒假） (unknown season)"
    )
    empty = write(tmp_path, "seasons: {}\n", "empty.yaml")
    with pytest.raises(CoopError) as exc:
        SeasonCalendar(empty).season("summer", 2026)
    assert str(exc.value) == f"{empty}: 没有名为 'summer' 的时段；已定义：（无） (unknown season)"


# -- an invalid season file: the whole message ---------------------------------------------


def test_an_unreadable_season_file_says_why(tmp_path: Path) -> None:
    p = tmp_path / "missing.yaml"
    with pytest.raises(CoopError) as exc:
        SeasonCalendar(p)
    assert str(exc.value) == f"{p}: 无法读取时段（寒暑假）文件 (No such file or directory)"


@pytest.mark.parametrize(
    "text",
    [
        "seasons: [\n",  # not YAML
        "seasons:\n  s:\n    years: {2026: [2026-02-30, 2026-03-01]}\n",  # ruamel builds the date while parsing
    ],
)
def test_a_season_file_that_is_not_yaml_is_refused(tmp_path: Path, text: str) -> None:
    p, msg = season_error(tmp_path, text)
    assert msg.startswith(f"{p}: 时段文件不是有效的 YAML："), msg


@pytest.mark.parametrize("text", ["- 1\n", "shipped_default: true\n", "seasons: [summer]\n", ""])
def test_a_season_file_must_be_a_mapping_with_seasons(tmp_path: Path, text: str) -> None:
    p, msg = season_error(tmp_path, text)
    assert msg == f"{p}: 时段文件须是映射，含 seasons: {{summer_vacation: ..., winter_vacation: ...}}"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("# a\nholidays: []\nseasons: {}\n", ":2: 未知的键 'holidays'（可用 shipped_default、seasons）"),
        ("seasons: {}\nshipped_default: yes please\n", ":2: shipped_default 须是 true 或 false"),
        (
            "seasons:\n  Summer: {start: '07-01', end: '08-31'}\n",
            ":2: 时段名 'Summer' 须是小写英文标识，如 summer_vacation",
        ),
        ("seasons:\n  2s: {start: '07-01', end: '08-31'}\n", ":2: 时段名 '2s' 须是小写英文标识，如 summer_vacation"),
        (
            "seasons:\n  2026: {start: '07-01', end: '08-31'}\n",
            ":2: 时段名 '2026' 须是小写英文标识，如 summer_vacation",
        ),
        (
            f"seasons:\n  a{'b' * 40}: {{start: '07-01', end: '08-31'}}\n",
            f":2: 时段名 'a{'b' * 40}' 须是小写英文标识，如 summer_vacation",
        ),
        ("seasons:\n  summer: '07-01'\n", ":2: 时段 'summer' 须是映射（name、start、end、years）"),
        (
            "seasons:\n  summer:\n    start: '07-01'\n    end: '08-31'\n    begin: '07-01'\n",
            ":5: 时段 'summer' 中未知的键 'begin'（可用 name、start、end、years）",
        ),
        ("seasons:\n  summer:\n    end: '08-31'\n", ": 时段 'summer' 的 start" + SPEC_HELP),
        ("seasons:\n  summer:\n    start: '7-1'\n    end: '08-31'\n", ":3: 时段 'summer' 的 start" + SPEC_HELP),
        ("seasons:\n  summer:\n    start: '07-01'\n    end: 0831\n", ":4: 时段 'summer' 的 end" + SPEC_HELP),
        (
            "seasons:\n  summer:\n    start: '07-01'\n    end: '13-01'\n",
            ":4: 时段 'summer' 的 end '13-01' 不是有效的月-日",
        ),
        (
            "seasons:\n  summer:\n    start: '02-29'\n    end: '03-31'\n",
            ":3: 时段 'summer' 的 start '02-29' 不是有效的月-日",
        ),
        (
            "seasons:\n  summer:\n    start: {anchor: easter}\n    end: '08-31'\n",
            ":3: 时段 'summer' 的 start" + SPEC_HELP,
        ),
        (
            "seasons:\n  summer:\n    start: {anchor: qingming, offset: 1, days: 2}\n    end: '08-31'\n",
            ":3: 时段 'summer' 的 start" + SPEC_HELP,
        ),
        (
            "seasons:\n  summer:\n    start: {anchor: qingming, offset: 121}\n    end: '08-31'\n",
            ":3: 时段 'summer' 的 start" + SPEC_HELP,
        ),
        (
            "seasons:\n  summer:\n    start: {anchor: qingming, offset: -121}\n    end: '08-31'\n",
            ":3: 时段 'summer' 的 start" + SPEC_HELP,
        ),
        (
            "seasons:\n  summer:\n    start: {anchor: qingming, offset: true}\n    end: '08-31'\n",
            ":3: 时段 'summer' 的 start" + SPEC_HELP,
        ),
        (
            "seasons:\n  summer:\n    start: {anchor: qingming, offset: '3'}\n    end: '08-31'\n",
            ":3: 时段 'summer' 的 start" + SPEC_HELP,
        ),
        (
            "seasons:\n  summer:\n    start: '07-01'\n    end: '08-31'\n    years: [2026]\n",
            ":5: years 须是 年份: [开始日期, 结束日期] 的映射",
        ),
    ],
)
def test_an_invalid_season_file_names_the_line_in_chinese(tmp_path: Path, text: str, expected: str) -> None:
    p, msg = season_error(tmp_path, text)
    assert msg == f"{p}{expected}"


_SUMMER = "seasons:\n  summer:\n    start: '07-01'\n    end: '08-31'\n    years:\n"


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ("2026: [2026/7/1, 2026-08-31]", "2026 年：须写成 2026: [YYYY-MM-DD, YYYY-MM-DD]（开始、结束日期）"),
        ("2026: [2026-07-01, nope]", "2026 年：须写成 2026: [YYYY-MM-DD, YYYY-MM-DD]（开始、结束日期）"),
        ("2026: 2026-07-01", "2026 年：须写成 2026: [YYYY-MM-DD, YYYY-MM-DD]（开始、结束日期）"),
        ("2026: [2026-07-01]", "2026 年：须写成 2026: [YYYY-MM-DD, YYYY-MM-DD]（开始、结束日期）"),
        (
            "2026: [2026-07-01, 2026-07-02, 2026-08-31]",
            "2026 年：须写成 2026: [YYYY-MM-DD, YYYY-MM-DD]（开始、结束日期）",
        ),
        ("next: [2026-07-01, 2026-08-31]", "next 年：须写成 next: [YYYY-MM-DD, YYYY-MM-DD]（开始、结束日期）"),
        ("2026: [2025-07-01, 2026-08-31]", "2026 年：开始日期须在 2026 年内，结束日期不早于开始日期"),
        ("2026: [2026-07-01, 2026-06-30]", "2026 年：开始日期须在 2026 年内，结束日期不早于开始日期"),
    ],
)
def test_a_listed_year_must_be_two_dates_starting_in_that_year(tmp_path: Path, entry: str, expected: str) -> None:
    p, msg = season_error(tmp_path, _SUMMER + f"      {entry}\n")
    assert msg == f"{p}:6: 时段 'summer' {expected}"


def test_every_problem_of_a_season_file_is_reported_not_only_the_first(tmp_path: Path) -> None:
    p, msg = season_error(
        tmp_path,
        "shipped_default: 1\n"
        "seasons:\n"
        "  Bad: {}\n"
        "  worse: []\n"
        "  summer:\n"
        "    start: '07-01'\n"
        "    end: '08-31'\n"
        "    years:\n"
        "      2026: [2025-07-01, 2026-08-31]\n"
        "      2027: [2027-07-01]\n"
        "      2028: [2028-07-02, 2028-07-01]\n"
        "  winter: {start: '01-20', end: '02-20'}\n",
    )
    assert msg.split("\n") == [
        f"{p}:1: shipped_default 须是 true 或 false",
        f"{p}:3: 时段名 'Bad' 须是小写英文标识，如 summer_vacation",
        f"{p}:4: 时段 'worse' 须是映射（name、start、end、years）",
        f"{p}:9: 时段 'summer' 2026 年：开始日期须在 2026 年内，结束日期不早于开始日期",
        f"{p}:10: 时段 'summer' 2027 年：须写成 2027: [YYYY-MM-DD, YYYY-MM-DD]（开始、结束日期）",
        f"{p}:11: 时段 'summer' 2028 年：开始日期须在 2028 年内，结束日期不早于开始日期",
    ]


def test_two_unknown_keys_in_a_season_are_both_reported(tmp_path: Path) -> None:
    p, msg = season_error(tmp_path, "seasons:\n  s:\n    from: '07-01'\n    to: '08-31'\n    start: '07-01'\n")
    assert msg.split("\n") == [
        f"{p}:3: 时段 's' 中未知的键 'from'（可用 name、start、end、years）",
        f"{p}:4: 时段 's' 中未知的键 'to'（可用 name、start、end、years）",
        f"{p}: 时段 's' 的 end" + SPEC_HELP,
    ]


# -- the overrides file's `official:` key -----------------------------------------------------


def test_a_year_listed_as_official_is_no_longer_provisional(tmp_path: Path) -> None:
    # The notice for 2031 is out and transcribed: Mon 3 Feb 2031 off, Sat 8 Feb worked.
    p = write(tmp_path, "holidays: [2031-02-03]\nworkdays: [2031-02-08]\nofficial: [2031]\n", "overrides.yaml")
    c = WorkdayCalendar(p)
    assert not c.is_provisional(date(2031, 6, 1))
    assert c.is_provisional(date(2032, 6, 1))
    assert not c.is_workday(date(2031, 2, 3))
    assert c.is_workday(date(2031, 2, 8))
    assert c.adjust(date(2031, 2, 3), "next") == (date(2031, 2, 4), False)
    assert c.adjust(date(2031, 3, 3), "none") == (date(2031, 3, 3), False)


def test_overrides_never_touch_the_first_year_of_official_data(tmp_path: Path) -> None:
    # 2004 is the first year chinese_calendar publishes: its Monday 1 March works and Saturday 6 March is off,
    # whatever the overrides file says.
    c = WorkdayCalendar(write(tmp_path, "holidays: [2004-03-01]\nworkdays: [2004-03-06]\n", "overrides.yaml"))
    assert not c.is_provisional(date(2004, 3, 1))
    assert c.is_workday(date(2004, 3, 1))
    assert not c.is_workday(date(2004, 3, 6))


@pytest.mark.parametrize("text", ["official:\n", "official: []\n"])
def test_an_empty_official_key_changes_nothing(tmp_path: Path, text: str) -> None:
    c = WorkdayCalendar(write(tmp_path, text, "overrides.yaml"))
    assert c.is_provisional(date(2031, 6, 1))


@pytest.mark.parametrize("years", ["[1901, 2199]"])
def test_official_years_inside_the_bounds_are_accepted(tmp_path: Path, years: str) -> None:
    c = WorkdayCalendar(write(tmp_path, f"official: {years}\n", "overrides.yaml"))
    assert not c.is_provisional(date(1901, 1, 1))
    assert not c.is_provisional(date(2199, 12, 31))
    assert c.is_provisional(date(2198, 12, 31))


@pytest.mark.parametrize(
    "text",
    ["official: [1900]\n", "official: [2200]\n", "official: 2027\n", "official: ['2027']\n", "official: [true]\n"],
)
def test_official_must_be_a_list_of_years_after_1900_and_before_2200(tmp_path: Path, text: str) -> None:
    p = write(tmp_path, "# transcribed from the notice\n" + text, "overrides.yaml")
    with pytest.raises(CoopError) as exc:
        WorkdayCalendar(p)
    assert str(exc.value) == f"{p}:2: 'official' must be a list of years like [2027]"


# -- festivals ------------------------------------------------------------------------------


def test_an_unknown_festival_lists_the_known_ones() -> None:
    with pytest.raises(CoopError) as exc:
        festival_date("christmas", 2026)  # type: ignore[arg-type]
    assert str(exc.value) == (
        "未知节日 'christmas'，可选：spring_festival、qingming、dragon_boat、mid_autumn、national_day"
        " (unknown festival)"
    )


def test_national_day_is_the_first_of_october() -> None:
    assert festival_date("national_day", 2031) == date(2031, 10, 1)


@pytest.mark.parametrize(
    ("year", "day"),
    # 清明 falls on 4, 5 or 6 April; the search window 1–10 April holds it in every year of the data.
    [(1900, date(1900, 4, 5)), (2008, date(2008, 4, 4)), (2100, date(2100, 4, 4)), (1911, date(1911, 4, 6))],
)
def test_qingming_is_the_solar_term_day(year: int, day: date) -> None:
    assert festival_date("qingming", year) == day


@pytest.mark.parametrize("year", [1899, 2101])
def test_qingming_outside_the_solar_term_data_is_a_clear_error(year: int) -> None:
    with pytest.raises(CoopError) as exc:
        festival_date("qingming", year)
    assert str(exc.value) == f"{year} 年的清明日期无法计算（节气数据只覆盖 1900–2100 年）"


def test_lunar_festivals_cover_1900_to_2099() -> None:
    assert festival_date("spring_festival", 1900) == date(1900, 1, 31)
    assert festival_date("spring_festival", 2099) == date(2099, 1, 21)
    for year, label in ((1899, "端午节"), (2100, "端午节")):
        with pytest.raises(CoopError) as exc:
            festival_date("dragon_boat", year)
        assert str(exc.value) == f"{year} 年的{label}日期无法计算（农历数据只覆盖 1900–2099 年）"
    with pytest.raises(CoopError) as exc:
        festival_date("mid_autumn", 2100)
    assert str(exc.value) == "2100 年的中秋节日期无法计算（农历数据只覆盖 1900–2099 年）"
