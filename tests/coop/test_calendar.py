"""Tests for coop.calendar: official schedules, provisional years, overrides, and arithmetic laws."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import chinese_calendar
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coop.calendar import DEFAULT_OVERRIDES, MAX_GAP_DAYS, WorkdayCalendar, default_calendar
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
