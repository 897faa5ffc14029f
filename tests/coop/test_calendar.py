"""Tests for coop.calendar: official schedules, provisional years, overrides, and arithmetic laws."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import chinese_calendar
import pytest
from holidays import country_holidays
from hypothesis import given, settings
from hypothesis import strategies as st

from coop.calendar import (
    DEFAULT_OVERRIDES,
    DEFAULT_SEASONS,
    MAX_GAP_DAYS,
    Festival,
    SeasonCalendar,
    WorkdayCalendar,
    default_calendar,
    festival_date,
)
from coop.errors import CoopError


def days(start: date, end: date) -> list[date]:
    """Every date from start to end inclusive."""
    return [start + timedelta(i) for i in range((end - start).days + 1)]


@pytest.fixture(scope="module")
def cal() -> WorkdayCalendar:
    """One calendar with the packaged overrides, shared because tables are cached per instance."""
    return WorkdayCalendar()


# One shared instance for the hypothesis tests (fixtures are not reset between examples anyway).
CAL = WorkdayCalendar()

# Range covering official years on both sides of the provisional boundaries.
any_day = st.dates(min_value=date(2000, 1, 1), max_value=date(2030, 12, 31))
official_day = st.dates(min_value=date(2004, 1, 1), max_value=date(2026, 12, 31))


# -- official schedules -----------------------------------------------------------


def test_spring_festival_2026(cal: WorkdayCalendar) -> None:
    for d in days(date(2026, 2, 15), date(2026, 2, 23)):
        assert not cal.is_workday(d), d
        assert not chinese_calendar.is_workday(d), d
    # 调休 make-up Saturdays
    for d in (date(2026, 2, 14), date(2026, 2, 28)):
        assert d.weekday() == 5
        assert cal.is_workday(d), d
        assert chinese_calendar.is_workday(d), d
    assert cal.is_workday(date(2026, 2, 13))
    assert cal.is_workday(date(2026, 2, 24))
    assert not cal.is_workday(date(2026, 3, 1))  # ordinary Sunday


def test_national_day_2025(cal: WorkdayCalendar) -> None:
    for d in days(date(2025, 10, 1), date(2025, 10, 8)):
        assert not cal.is_workday(d), d
    assert date(2025, 9, 28).weekday() == 6 and cal.is_workday(date(2025, 9, 28))
    assert date(2025, 10, 11).weekday() == 5 and cal.is_workday(date(2025, 10, 11))
    assert cal.is_workday(date(2025, 10, 9))
    assert not cal.is_workday(date(2025, 10, 12))


def test_adjust_across_holiday_block(cal: WorkdayCalendar) -> None:
    assert cal.adjust(date(2025, 10, 3), "next") == (date(2025, 10, 9), False)
    assert cal.adjust(date(2025, 10, 3), "previous") == (date(2025, 9, 30), False)
    assert cal.adjust(date(2026, 2, 18), "next") == (date(2026, 2, 24), False)
    # the block's first day goes back to the make-up Saturday
    assert cal.adjust(date(2026, 2, 15), "previous") == (date(2026, 2, 14), False)
    assert cal.adjust(date(2025, 10, 3), "none") == (date(2025, 10, 3), False)
    # a working day is never moved, even a make-up Sunday
    assert cal.adjust(date(2025, 9, 28), "next") == (date(2025, 9, 28), False)
    with pytest.raises(CoopError, match="unknown adjustment rule"):
        cal.adjust(date(2025, 9, 29), "following")  # type: ignore[arg-type]


def test_add_workdays_and_between_across_block(cal: WorkdayCalendar) -> None:
    assert cal.add_workdays(date(2025, 9, 30), 1) == date(2025, 10, 9)
    assert cal.add_workdays(date(2025, 10, 9), -1) == date(2025, 9, 30)
    assert cal.add_workdays(date(2025, 9, 26), 2) == date(2025, 9, 29)  # Sun 28 Sep counts
    assert cal.add_workdays(date(2025, 10, 5), 0) == date(2025, 10, 5)
    assert cal.workdays_between(date(2025, 9, 30), date(2025, 10, 11)) == 3  # 9, 10, 11 Oct
    assert cal.workdays_between(date(2025, 10, 11), date(2025, 9, 30)) == -3
    assert cal.workdays_between(date(2025, 10, 1), date(2025, 10, 1)) == 0
    # crossing a year boundary
    assert cal.add_workdays(date(2026, 12, 31), 1) == cal.adjust(date(2027, 1, 1), "next")[0]


def test_full_year_counts(cal: WorkdayCalendar) -> None:
    for y in (2024, 2025, 2026):
        expected = sum(chinese_calendar.is_workday(d) for d in days(date(y, 1, 1), date(y, 12, 31)))
        assert cal.workdays_between(date(y - 1, 12, 31), date(y, 12, 31)) == expected


# -- provisional years ------------------------------------------------------------


def test_provisional_flag(cal: WorkdayCalendar) -> None:
    assert cal.is_provisional(date(2027, 3, 1))
    assert cal.is_provisional(date(2003, 6, 1))
    assert not cal.is_provisional(date(2026, 12, 31))
    assert not cal.is_provisional(date(2004, 1, 1))
    with pytest.raises(NotImplementedError):  # the reason 2027 is provisional
        chinese_calendar.is_workday(date(2027, 3, 1))
    assert cal.adjust(date(2027, 3, 1), "none") == (date(2027, 3, 1), True)
    assert cal.adjust(date(2026, 3, 2), "none") == (date(2026, 3, 2), False)
    # Thu 31 Dec 2026 is a workday; Sat 2 Jan 2027 moved back stays in official 2026 but examined 2027
    assert cal.adjust(date(2027, 1, 2), "previous") == (date(2026, 12, 31), True)
    assert cal.adjust(date(2026, 12, 27), "next") == (date(2026, 12, 28), False)


def test_provisional_2027_from_holidays_lib(cal: WorkdayCalendar) -> None:
    # holidays.China gives 5–10 Feb 2027 (除夕 + 春节 + days in lieu) and 1–5 Oct
    for d in days(date(2027, 2, 5), date(2027, 2, 10)):
        assert not cal.is_workday(d), d
    for d in days(date(2027, 10, 1), date(2027, 10, 5)):
        assert not cal.is_workday(d), d
    assert cal.is_workday(date(2027, 3, 1))  # ordinary Monday
    assert not cal.is_workday(date(2027, 3, 6))  # ordinary Saturday


def test_packaged_overrides_applied_for_2027(cal: WorkdayCalendar) -> None:
    assert cal.overrides_path == DEFAULT_OVERRIDES
    assert not cal.is_workday(date(2027, 2, 11))  # Thu, override holiday
    assert not cal.is_workday(date(2027, 10, 7))
    assert cal.is_workday(date(2027, 2, 14))  # Sun, override make-up day
    assert cal.is_workday(date(2027, 9, 26))


def write(tmp_path: Path, text: str, name: str = "overrides.yaml") -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def test_custom_overrides_file_2027_only(tmp_path: Path) -> None:
    p = write(
        tmp_path,
        "# test overrides\n"
        "holidays: [2027-03-01, 2026-03-02]\n"  # Mon 2027 → off; Mon 2026 official → ignored
        "workdays:\n"
        "  - 2027-03-06\n"  # Sat 2027 → working
        "  - '2026-03-07'\n",  # Sat 2026 official → ignored; quoted ISO strings accepted
    )
    c = WorkdayCalendar(p)
    assert not c.is_workday(date(2027, 3, 1))
    assert c.is_workday(date(2027, 3, 6))
    assert c.is_workday(date(2026, 3, 2))
    assert not c.is_workday(date(2026, 3, 7))
    # a custom file replaces the packaged default: 11 Feb 2027 is a plain Thursday again
    assert c.is_workday(date(2027, 2, 11))
    assert c.adjust(date(2027, 3, 1), "next") == (date(2027, 3, 2), True)


def test_empty_overrides_file(tmp_path: Path) -> None:
    c = WorkdayCalendar(write(tmp_path, "# nothing yet\n"))
    assert c.is_workday(date(2027, 2, 11))
    assert not c.is_workday(date(2027, 2, 8))  # still off from holidays.China


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("holidays: [2027-02-30]\n", "invalid date"),
        ("holidays: ['2027-02-30']\n", "not a date"),
        ("holidays: [tomorrow]\n", "not a date"),
        ("workdays: [2027-02-20T09:00:00]\n", "not a date"),
        ("holidays: 2027-02-05\n", "must be a list"),
        ("- 2027-02-05\n", "must be a mapping"),
        ("holiday: [2027-02-05]\n", "unknown key"),
        ("holidays: [2027-02-05]\nworkdays: [2027-02-05]\n", "both a holiday and a workday"),
        ("holidays: [2027-02-05, 2027-02-05]\n", "listed twice"),
        ("holidays: [2027-02-05\n", "not valid YAML"),
    ],
)
def test_invalid_overrides(tmp_path: Path, text: str, fragment: str) -> None:
    p = write(tmp_path, text)
    with pytest.raises(CoopError) as exc:
        WorkdayCalendar(p)
    msg = str(exc.value)
    assert msg.startswith(str(p)), msg
    assert fragment in msg, msg


def test_invalid_overrides_reports_line(tmp_path: Path) -> None:
    p = write(tmp_path, "# header\nholidays:\n  - 2027-02-05\n  - nope\n")
    with pytest.raises(CoopError, match=r":4: 'holidays' entry 'nope'"):
        WorkdayCalendar(p)


def test_missing_overrides_file(tmp_path: Path) -> None:
    with pytest.raises(CoopError, match="cannot read"):
        WorkdayCalendar(tmp_path / "missing.yaml")


def test_corrupt_gap_rejected(tmp_path: Path) -> None:
    start = date(2027, 3, 1)
    lines = "".join(f"  - {d.isoformat()}\n" for d in days(start, start + timedelta(MAX_GAP_DAYS + 5)))
    with pytest.raises(CoopError, match="consecutive non-working days"):
        WorkdayCalendar(write(tmp_path, "holidays:\n" + lines))


def test_default_calendar_uses_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from coop.settings import get_settings

    p = write(tmp_path, "workdays: [2027-03-06]\n")
    monkeypatch.setenv("COOP_CALENDAR_OVERRIDES", str(p))
    get_settings.cache_clear()
    default_calendar.cache_clear()
    try:
        c = default_calendar()
        assert c is default_calendar()
        assert c.overrides_path == p
        assert c.is_workday(date(2027, 3, 6))
    finally:
        get_settings.cache_clear()
        default_calendar.cache_clear()


# -- properties -------------------------------------------------------------------


@settings(max_examples=500, deadline=None)
@given(d=any_day, rule=st.sampled_from(["next", "previous"]))
def test_adjust_properties(d: date, rule: str) -> None:
    out, provisional = CAL.adjust(d, rule)  # type: ignore[arg-type]
    assert CAL.is_workday(out)
    assert abs((out - d).days) <= MAX_GAP_DAYS
    if CAL.is_workday(d):
        assert out == d
    elif rule == "next":
        assert out > d
        assert all(not CAL.is_workday(x) for x in days(d, out - timedelta(1)))
    else:
        assert out < d
        assert all(not CAL.is_workday(x) for x in days(out + timedelta(1), d))
    assert provisional == any(CAL.is_provisional(x) for x in (min(d, out), max(d, out)))


@settings(max_examples=300, deadline=None)
@given(d=any_day)
def test_adjust_none_is_identity(d: date) -> None:
    assert CAL.adjust(d, "none") == (d, CAL.is_provisional(d))


@settings(max_examples=500, deadline=None)
@given(d=any_day, n=st.integers(min_value=-400, max_value=400))
def test_add_workdays_roundtrip(d: date, n: int) -> None:
    d = CAL.adjust(d, "next")[0]  # start on a working day
    e = CAL.add_workdays(d, n)
    assert CAL.is_workday(e)
    assert CAL.add_workdays(e, -n) == d
    assert (e > d) == (n > 0) and (e < d) == (n < 0)
    assert CAL.workdays_between(d, e) == n
    assert CAL.workdays_between(e, d) == -n


@settings(max_examples=500, deadline=None)
@given(d=any_day, n=st.integers(min_value=1, max_value=400))
def test_add_workdays_from_any_day(d: date, n: int) -> None:
    """From any day (working or not), the n-th working day after it is n working days away."""
    e = CAL.add_workdays(d, n)
    assert CAL.workdays_between(d, e) == n
    assert CAL.add_workdays(d, 1) == CAL.adjust(d + timedelta(1), "next")[0]


@settings(max_examples=300, deadline=None)
@given(a=any_day, span=st.integers(min_value=-120, max_value=120))
def test_workdays_between_counts(a: date, span: int) -> None:
    b = a + timedelta(span)
    lo, hi = min(a, b), max(a, b)
    count = sum(CAL.is_workday(x) for x in days(lo + timedelta(1), hi)) if hi > lo else 0
    assert CAL.workdays_between(a, b) == (count if b >= a else -count)


@settings(max_examples=2000, deadline=None)
@given(d=official_day)
def test_agrees_with_chinese_calendar(d: date) -> None:
    assert CAL.is_workday(d) == chinese_calendar.is_workday(d)
    assert not CAL.is_provisional(d)


def test_agrees_with_chinese_calendar_exhaustive() -> None:
    """Cheap enough to check every official day, not just a sample."""
    c = WorkdayCalendar()
    for d in days(date(2004, 1, 1), date(2026, 12, 31)):
        assert c.is_workday(d) == chinese_calendar.is_workday(d), d


# -- festivals -----------------------------------------------------------------------

# chinese_calendar's own name for the holiday each festival falls in.
_OFFICIAL_NAMES = {
    "spring_festival": "Spring Festival",
    "qingming": "Tomb-sweeping Day",
    "dragon_boat": "Dragon Boat Festival",
    "mid_autumn": "Mid-autumn Festival",
    "national_day": "National Day",
}
# holidays.China's name for the festival's own day, an implementation independent of lunardate.
_HOLIDAYS_NAMES = {
    "spring_festival": "Chinese New Year (Spring Festival)",
    "qingming": "Tomb-Sweeping Day",
    "dragon_boat": "Dragon Boat Festival",
    "mid_autumn": "Mid-Autumn Festival",
    "national_day": "National Day",
}


@settings(max_examples=200, deadline=None)
@given(year=st.integers(2018, 2026), festival=st.sampled_from(sorted(_OFFICIAL_NAMES)))
def test_festival_day_is_inside_its_official_holiday(year: int, festival: Festival) -> None:
    """Every festival day of 2018–2026 is a day off that the State Council named for that festival."""
    day = festival_date(festival, year)
    on_holiday, name = chinese_calendar.get_holiday_detail(day)
    assert on_holiday
    # 2020: 中秋 fell on 1 October and the combined block is named National Day.
    assert name == _OFFICIAL_NAMES[festival] or (festival, year) == ("mid_autumn", 2020) and name == "National Day"


@settings(max_examples=200, deadline=None)
@given(year=st.integers(2027, 2060), festival=st.sampled_from(sorted(_HOLIDAYS_NAMES)))
def test_festival_day_without_official_data_agrees_with_holidays_library(year: int, festival: Festival) -> None:
    """Years without official data: the lunar calendar and solar terms give the same days as `holidays`."""
    named = country_holidays("CN", years=year).get_named(_HOLIDAYS_NAMES[festival], lookup="exact")
    assert festival_date(festival, year) == min(named)


def test_festival_dates_known_examples() -> None:
    assert festival_date("spring_festival", 2027) == date(2027, 2, 6)
    assert festival_date("qingming", 2027) == date(2027, 4, 5)
    assert festival_date("dragon_boat", 2025) == date(2025, 5, 31)
    assert festival_date("mid_autumn", 2025) == date(2025, 10, 6)
    with pytest.raises(CoopError, match="农历数据只覆盖 1900–2099 年"):
        festival_date("spring_festival", 2100)


# -- seasons -------------------------------------------------------------------------


def test_packaged_seasons_are_flagged_as_shipped_defaults() -> None:
    seasons = SeasonCalendar()
    assert seasons.path == DEFAULT_SEASONS
    assert seasons.shipped_default
    assert seasons.names == ["summer_vacation", "winter_vacation"]
    winter = seasons.season("winter_vacation", 2026)
    assert winter.provisional
    assert winter.start < festival_date("spring_festival", 2026) < winter.end
    summer = seasons.season("summer_vacation", 2026)
    assert (summer.start.month, summer.end) == (7, date(2026, 8, 31))


def test_season_file_years_win_over_the_rule(tmp_path: Path) -> None:
    path = tmp_path / "jilin.yaml"
    path.write_text(
        "shipped_default: false\n"
        "seasons:\n"
        "  winter_vacation:\n"
        "    name: 寒假\n"
        "    start: {anchor: spring_festival, offset: -20}\n"
        "    end: {anchor: spring_festival, offset: 20}\n"
        "    years:\n"
        "      2026: [2026-01-17, 2026-03-01]\n",
        encoding="utf-8",
    )
    seasons = SeasonCalendar(path)
    listed = seasons.season("winter_vacation", 2026)
    assert (listed.start, listed.end, listed.provisional) == (date(2026, 1, 17), date(2026, 3, 1), False)
    ruled = seasons.season("winter_vacation", 2027)
    assert (ruled.start, ruled.end, ruled.provisional) == (date(2027, 1, 17), date(2027, 2, 26), True)
    with pytest.raises(CoopError, match="没有名为 'summer_vacation' 的时段；已定义：winter_vacation（寒假）"):
        seasons.season("summer_vacation", 2026)


_SUMMER = "seasons:\n  summer:\n    start: '07-01'\n    end: '08-31'\n"


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("seasons:\n  summer:\n    start: '7-1'\n    end: '08-31'\n", ":3: 时段 'summer' 的 start 须写成 \"MM-DD\""),
        ("seasons:\n  summer:\n    start: '02-30'\n    end: '08-31'\n", "'02-30' 不是有效的月-日"),
        ("seasons:\n  summer:\n    start: {anchor: easter}\n    end: '08-31'\n", ":3: 时段 'summer' 的 start"),
        (
            _SUMMER + "    years:\n      2026: [2026/7/1, 2026-08-31]\n",
            ":6: 时段 'summer' 2026 年：须写成 2026: [YYYY-MM-DD, YYYY-MM-DD]",
        ),
        (
            _SUMMER + "    years:\n      2026: [2025-07-01, 2026-08-31]\n",
            "开始日期须在 2026 年内",
        ),
        ("seasons:\n  summer:\n    begin: '07-01'\n", ":3: 时段 'summer' 中未知的键 'begin'"),
        ("holidays: []\nseasons: {}\n", ":1: 未知的键 'holidays'"),
        ("- 1\n", "时段文件须是映射"),
    ],
)
def test_invalid_season_file_reports_line_in_chinese(tmp_path: Path, text: str, fragment: str) -> None:
    path = tmp_path / "seasons.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(CoopError) as err:
        SeasonCalendar(path)
    assert fragment in str(err.value)
    assert str(path) in str(err.value)


# -- mutation-testing survivors (tests/MUTATION.md) -----------------------------------


def test_provisional_weekdays_and_make_up_days_from_the_holidays_library() -> None:
    c = WorkdayCalendar()  # built inside the test, so every provisional year below is computed here
    assert not c.is_workday(date(2027, 3, 6))  # an ordinary Saturday of a provisional year is off
    assert c.is_workday(date(2027, 3, 5))  # and the Friday before it is worked
    # Before 2004 chinese_calendar has no data: holidays.China's make-up Saturday 29 Dec 2001 is a working day.
    assert c.is_provisional(date(2001, 12, 29))
    assert c.is_workday(date(2001, 12, 29))
    assert not c.is_workday(date(2001, 12, 22))  # an ordinary Saturday that month


def test_exactly_max_gap_days_off_is_accepted_and_adjust_crosses_it(tmp_path: Path) -> None:
    # 1 Jan – 1 Mar 2031 (provisional) off: exactly MAX_GAP_DAYS days, starting on the first day of the year.
    off = days(date(2031, 1, 1), date(2031, 3, 1))
    assert len(off) == MAX_GAP_DAYS
    text = "holidays:\n" + "".join(f"  - {d.isoformat()}\n" for d in off) + "workdays: [2031-03-02]\n"
    c = WorkdayCalendar(write(tmp_path, text))
    assert c.adjust(date(2031, 1, 1), "next") == (date(2031, 3, 2), True)
    assert c.adjust(date(2031, 3, 1), "previous") == (date(2030, 12, 31), True)


def test_gap_across_new_year_is_refused_with_its_size(tmp_path: Path) -> None:
    # Each year's run stays under the limit (Sat 30 Nov – 31 Dec 2030, 1 Jan – Sun 2 Feb 2031); together 65 days.
    off = days(date(2030, 12, 1), date(2031, 1, 31))
    p = write(tmp_path, "holidays:\n" + "".join(f"  - {d.isoformat()}\n" for d in off))
    c = WorkdayCalendar(p)
    assert c.adjust(date(2031, 1, 1), "next") == (date(2031, 2, 3), True)
    with pytest.raises(CoopError) as exc:
        c.adjust(date(2030, 12, 1), "next")
    assert str(exc.value) == (f"64 consecutive non-working days around 2030-12-01; calendar data ({p}) must be corrupt")


def test_corrupt_gap_names_the_file_the_day_and_the_year(tmp_path: Path) -> None:
    off = days(date(2027, 3, 1), date(2027, 3, 1) + timedelta(MAX_GAP_DAYS + 5))
    p = write(tmp_path, "holidays:\n" + "".join(f"  - {d.isoformat()}\n" for d in off))
    with pytest.raises(CoopError) as exc:
        WorkdayCalendar(p)
    # Sat 27 Feb is already off, so the 61st day off in a row is 28 Apr.
    assert str(exc.value) == (
        f"{p}: more than {MAX_GAP_DAYS} consecutive non-working days ending 2027-04-28 in 2027;"
        " calendar data must be corrupt"
    )


def test_a_year_outside_the_date_range_is_a_clear_error() -> None:
    with pytest.raises(CoopError) as exc:
        WorkdayCalendar().add_workdays(date(9999, 12, 1), 30)
    assert str(exc.value) == "year 10000 is outside the supported date range"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "# header\n\nholiday: [2027-02-05]\n",
            ":3: unknown key 'holiday' (expected 'holidays', 'workdays' or 'official')",
        ),
        (
            "# two problems, both reported\nholidays: 5\nworkdays: [nope]\n",
            ":2: 'holidays' must be a list of dates like 2027-02-05\n{p}:3: 'workdays' entry 'nope' is not a date"
            " like 2027-02-05",
        ),
        ("holidays:\n  - 2027-02-05\n  - 2027-02-05\n", ":3: 2027-02-05 listed twice in 'holidays'"),
        (
            "holidays:\n  - 2027-02-05\nworkdays:\n  - 2027-02-05\n",
            ":4: 2027-02-05 is listed as both a holiday and a workday",
        ),
    ],
)
def test_overrides_errors_name_the_line(tmp_path: Path, text: str, expected: str) -> None:
    p = write(tmp_path, text)
    with pytest.raises(CoopError) as exc:
        WorkdayCalendar(p)
    assert str(exc.value) == f"{p}" + expected.replace("{p}", str(p))


def test_unreadable_overrides_file_says_why(tmp_path: Path) -> None:
    p = tmp_path / "missing.yaml"
    with pytest.raises(CoopError) as exc:
        WorkdayCalendar(p)
    assert str(exc.value) == f"{p}: cannot read calendar overrides file (No such file or directory)"


def test_repr_names_the_overrides_file(tmp_path: Path) -> None:
    p = write(tmp_path, "# nothing\n")
    assert repr(WorkdayCalendar(p)) == f"WorkdayCalendar(overrides={str(p)!r})"


def test_a_year_without_official_data_inside_the_advertised_range_is_provisional(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # chinese_calendar raises NotImplementedError for a day it has no data for; the calendar falls back to the
    # provisional rules and says so (fault injected: the shipped data has no such hole).
    def no_data(d: date) -> bool:
        raise NotImplementedError(f"no data for {d}")

    monkeypatch.setattr(chinese_calendar, "is_workday", no_data)
    c = WorkdayCalendar()
    assert c.adjust(date(2026, 3, 7), "next") == (date(2026, 3, 9), True)
