"""Recurrence expansion: every form stays inside the term, in order, without repeats, and is bounded."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import chinese_calendar
import pytest
from dateutil.easter import easter
from hypothesis import given, settings
from hypothesis import strategies as st

from coop.agreement.schema import Recurrence, Term
from coop.calendar import SeasonCalendar, WorkdayCalendar, festival_date
from coop.errors import CoopError
from coop.recurrence import TooManyOccurrences, nominal_dates, parse_rrule, scheduled_dates

starts = st.dates(min_value=dt.date(2020, 1, 1), max_value=dt.date(2030, 12, 31))
lengths = st.integers(min_value=0, max_value=5 * 366)
periods = st.sampled_from(["week", "month", "quarter", "half_year", "year"])


@settings(deadline=None)
@given(start=starts, length=lengths, every=periods, day=st.one_of(st.none(), st.integers(1, 31)))
def test_every_sugar_stays_in_term_sorted_unique(start: dt.date, length: int, every: str, day: int | None) -> None:
    if every == "week" and day is not None:
        day = 1 + day % 7
    term = Term(start=start, end=start + dt.timedelta(days=length))
    dates = nominal_dates(Recurrence(every=every, day=day), term, limit=10_000)
    assert all(term.start <= d <= term.end for d in dates)
    assert dates == sorted(set(dates))
    months = {"month": 1, "quarter": 3, "half_year": 6, "year": 12}
    if every in months:
        # one per period: never more than the number of period ends the term can touch
        assert len(dates) <= length // (28 * months[every]) + 2
        if day is None:
            assert all(d.month % months[every] == 0 for d in dates)
            assert all((d + dt.timedelta(days=1)).day == 1 for d in dates)


@settings(deadline=None)
@given(start=starts, length=lengths, interval=st.integers(1, 12), monthday=st.integers(1, 28))
def test_rrule_monthly_matches_its_definition(start: dt.date, length: int, interval: int, monthday: int) -> None:
    term = Term(start=start, end=start + dt.timedelta(days=length))
    dates = nominal_dates(
        Recurrence(rrule=f"FREQ=MONTHLY;INTERVAL={interval};BYMONTHDAY={monthday}"), term, limit=10_000
    )
    assert all(d.day == monthday and term.start <= d <= term.end for d in dates)
    steps = [(b.year * 12 + b.month) - (a.year * 12 + a.month) for a, b in zip(dates, dates[1:], strict=False)]
    assert all(s == interval for s in steps)


@settings(deadline=None)  # a loaded 2-core box stretches single examples past 200 ms
@given(limit=st.integers(1, 200))
def test_limit_is_enforced(limit: int) -> None:
    term = Term(start=dt.date(2025, 1, 1), end=dt.date(2025, 12, 31))
    dates = nominal_dates(Recurrence(rrule="FREQ=DAILY"), term, limit=365)
    assert len(dates) == 365
    if limit < 365:
        with pytest.raises(TooManyOccurrences):
            nominal_dates(Recurrence(rrule="FREQ=DAILY"), term, limit=limit)


def test_absurd_rule_over_a_century_is_bounded_quickly() -> None:
    term = Term(start=dt.date(2001, 1, 1), end=dt.date(2020, 12, 31))
    with pytest.raises(TooManyOccurrences):
        nominal_dates(Recurrence(rrule="FREQ=DAILY"), term, limit=5000)


def test_once_and_deadline() -> None:
    term = Term(start=dt.date(2025, 1, 1), end=dt.date(2025, 12, 31))
    assert nominal_dates(Recurrence(once=dt.date(2025, 6, 1)), term, 10) == [dt.date(2025, 6, 1)]
    assert nominal_dates(Recurrence(deadline=dt.date(2025, 8, 31)), term, 10) == [dt.date(2025, 8, 31)]


def test_quarter_ends_from_mid_quarter_start() -> None:
    term = Term(start=dt.date(2024, 11, 8), end=dt.date(2025, 7, 1))
    assert nominal_dates(Recurrence(every="quarter"), term, 10) == [
        dt.date(2024, 12, 31),
        dt.date(2025, 3, 31),
        dt.date(2025, 6, 30),
    ]


# -- workday / dates / anchor / season forms (scheduled_dates), against chinese_calendar's official data -------

OFFICIAL_YEARS = st.integers(min_value=2018, max_value=2026)
MONTHS = {"month": 1, "quarter": 3, "half_year": 6, "year": 12}
CAL = WorkdayCalendar()
SEASONS = SeasonCalendar()


def _official_workdays(first: dt.date, last: dt.date) -> list[dt.date]:
    """Working days in [first, last] by chinese_calendar itself, not by the code under test."""
    return [
        d for d in (first + dt.timedelta(i) for i in range((last - first).days + 1)) if chinese_calendar.is_workday(d)
    ]


def _period(year: int, of: str, index: int) -> tuple[dt.date, dt.date]:
    months = MONTHS[of]
    first = dt.date(year, 1 + index * months, 1)
    after = dt.date(year + 1, 1, 1) if first.month + months > 12 else dt.date(year, first.month + months, 1)
    return first, after - dt.timedelta(days=1)


@settings(max_examples=300, deadline=None)
@given(year=OFFICIAL_YEARS, of=st.sampled_from(list(MONTHS)), data=st.data())
def test_nth_workday_is_the_nth_official_working_day_of_its_period(year: int, of: str, data: st.DataObject) -> None:
    index = data.draw(st.integers(0, 12 // MONTHS[of] - 1))
    first, last = _period(year, of, index)
    official = _official_workdays(first, last)
    n = data.draw(st.integers(1, len(official)) | st.integers(-len(official), -1))
    # A term of exactly this period: another period of the year may have fewer working days than n.
    term = Term(start=first, end=last)
    [(nominal, due, provisional)] = scheduled_dates(Recurrence(workday={"n": n, "of": of}), term, 100, CAL, SEASONS)
    # The key date is the period's first day (n > 0) or last day (n < 0): it never depends on the holiday calendar.
    assert nominal == (first if n > 0 else last)
    assert due == official[n - 1 if n > 0 else n]
    assert chinese_calendar.is_workday(due) and not provisional


@settings(max_examples=50, deadline=None)
@given(start=st.dates(dt.date(2018, 1, 1), dt.date(2024, 12, 31)), length=st.integers(0, 800), data=st.data())
def test_workday_rule_one_per_period_inside_the_term(start: dt.date, length: int, data: st.DataObject) -> None:
    of = data.draw(st.sampled_from(list(MONTHS)))
    n = data.draw(st.sampled_from([1, 2, 3, 5, -1, -2, -3]))
    term = Term(start=start, end=start + dt.timedelta(days=length))
    found = scheduled_dates(Recurrence(workday={"n": n, "of": of}), term, 1000, CAL, SEASONS)
    assert all(term.start <= due <= term.end and chinese_calendar.is_workday(due) for _, due, _ in found if due)
    nominals = [nominal for nominal, _, _ in found]
    assert nominals == sorted(set(nominals))
    months = [(d.year * 12 + d.month - 1) // MONTHS[of] for d in nominals]
    assert months == sorted(set(months))  # one per period


def test_fifth_working_day_of_each_quarter_2025() -> None:
    """每季度第5个工作日前报送: Q4 2025 is 10-14 (国庆+中秋 1–8 Oct, 调休 Saturday 11 Oct), not 10-09."""
    term = Term(start=dt.date(2025, 1, 1), end=dt.date(2025, 12, 31))
    found = scheduled_dates(Recurrence(workday={"n": 5, "of": "quarter"}), term, 10, CAL, SEASONS)
    assert [(nominal, due) for nominal, due, _ in found] == [
        (dt.date(2025, 1, 1), dt.date(2025, 1, 8)),
        (dt.date(2025, 4, 1), dt.date(2025, 4, 8)),
        (dt.date(2025, 7, 1), dt.date(2025, 7, 7)),
        (dt.date(2025, 10, 1), dt.date(2025, 10, 14)),
    ]


def test_last_working_day_of_the_year_and_too_large_n() -> None:
    term = Term(start=dt.date(2024, 1, 1), end=dt.date(2025, 12, 31))
    found = scheduled_dates(Recurrence(workday={"n": -1, "of": "year"}), term, 10, CAL, SEASONS)
    assert [due for _, due, _ in found] == [dt.date(2024, 12, 31), dt.date(2025, 12, 31)]
    with pytest.raises(ValueError, match="只有 .* 个工作日，没有第 30 个"):
        scheduled_dates(Recurrence(workday={"n": 30, "of": "month"}), term, 100, CAL, SEASONS)


def test_workday_periods_only_inside_the_term_and_provisional_after_official_data() -> None:
    term = Term(start=dt.date(2026, 11, 15), end=dt.date(2027, 2, 10))
    found = scheduled_dates(Recurrence(workday={"n": 3, "of": "month"}), term, 10, CAL, SEASONS)
    # November 2026's 3rd working day is before the term start: not owed.
    assert [nominal for nominal, _, _ in found] == [dt.date(2026, 12, 1), dt.date(2027, 1, 1), dt.date(2027, 2, 1)]
    assert [provisional for _, _, provisional in found] == [False, True, True]


def test_workday_rule_rejects_zero() -> None:
    with pytest.raises(ValueError, match="n 不能为 0"):
        Recurrence(workday={"n": 0, "of": "month"})


@settings(max_examples=100, deadline=None)
@given(days=st.sets(st.dates(dt.date(2025, 1, 1), dt.date(2025, 12, 31)), min_size=1, max_size=20))
def test_explicit_dates_in_order_and_moved_by_adjust_only(days: set[dt.date]) -> None:
    term = Term(start=dt.date(2025, 1, 1), end=dt.date(2025, 12, 31))
    found = scheduled_dates(Recurrence(dates=list(days)), term, 100, CAL, SEASONS)
    assert [nominal for nominal, _, _ in found] == sorted(days)
    assert all(due is None for _, due, _ in found)  # the planner applies `adjust`


FESTIVALS = ["spring_festival", "qingming", "dragon_boat", "mid_autumn", "national_day"]


@settings(max_examples=300, deadline=None)
@given(year=OFFICIAL_YEARS, festival=st.sampled_from(FESTIVALS), offset=st.integers(-15, 15).filter(bool))
def test_festival_working_day_offsets_count_official_working_days(year: int, festival: str, offset: int) -> None:
    term = Term(start=dt.date(year - 1, 1, 1), end=dt.date(year + 1, 12, 31))  # the due date may cross New Year
    rec = Recurrence(anchor=festival, offset=offset, offset_unit="workdays")
    found = [(nominal, due) for nominal, due, _ in scheduled_dates(rec, term, 10, CAL, SEASONS) if nominal.year == year]
    [(nominal, due)] = found
    assert nominal == festival_date(festival, year)  # type: ignore[arg-type]
    assert due is not None and chinese_calendar.is_workday(due)
    if offset < 0:
        assert len(_official_workdays(due, nominal - dt.timedelta(days=1))) == -offset
    else:
        assert len(_official_workdays(nominal + dt.timedelta(days=1), due)) == offset


@settings(max_examples=200, deadline=None)
@given(year=OFFICIAL_YEARS, festival=st.sampled_from(FESTIVALS), offset=st.integers(-60, 60))
def test_festival_calendar_day_offsets(year: int, festival: str, offset: int) -> None:
    term = Term(start=dt.date(year, 1, 1), end=dt.date(year, 12, 31))
    found = scheduled_dates(Recurrence(anchor=festival, offset=offset), term, 10, CAL, SEASONS)
    around = [festival_date(festival, y) + dt.timedelta(days=offset) for y in (year - 1, year, year + 1)]  # type: ignore[arg-type]
    assert found == [(d, None, False) for d in around if term.start <= d <= term.end]


def test_spring_festival_visit_three_working_days_before() -> None:
    """春节前3个工作日走访: 2025 festival 01-29 (调休 Sunday 01-26 counts) and 2026 festival 02-17 (调休 02-14)."""
    term = Term(start=dt.date(2025, 1, 1), end=dt.date(2026, 12, 31))
    rec = Recurrence(anchor="spring_festival", offset=-3, offset_unit="workdays")
    found = scheduled_dates(rec, term, 10, CAL, SEASONS)
    assert [(n, d) for n, d, _ in found] == [
        (dt.date(2025, 1, 29), dt.date(2025, 1, 24)),
        (dt.date(2026, 2, 17), dt.date(2026, 2, 12)),
    ]


def test_season_dates_follow_the_table_and_flag_shipped_defaults(tmp_path: Path) -> None:
    own = tmp_path / "seasons.yaml"
    own.write_text(
        "shipped_default: false\nseasons:\n  summer_vacation:\n    name: 暑假\n    start: '07-05'\n    end: '08-31'\n"
        "    years:\n      2026: [2026-07-11, 2026-08-30]\n",
        encoding="utf-8",
    )
    term = Term(start=dt.date(2025, 1, 1), end=dt.date(2026, 12, 31))
    rec = Recurrence(season="summer_vacation", at="end", offset=-7)
    # 2025 comes from the rule (provisional until its dates are listed); 2026 is listed.
    assert scheduled_dates(rec, term, 10, CAL, SeasonCalendar(own)) == [
        (dt.date(2025, 8, 24), None, True),
        (dt.date(2026, 8, 23), None, False),
    ]
    at_start = Recurrence(season="summer_vacation", offset=-2, offset_unit="workdays")
    # 2026-07-11 is a Saturday: two working days before it are Thu 07-09, and the key is the season's first day.
    assert scheduled_dates(at_start, term, 10, CAL, SeasonCalendar(own))[1] == (
        dt.date(2026, 7, 11),
        dt.date(2026, 7, 9),
        False,
    )
    # The packaged table is flagged as shipped defaults: its dates are provisional.
    assert all(p for _, _, p in scheduled_dates(rec, term, 10, CAL, SeasonCalendar()))


def test_on_demand_has_no_dates_and_limits_hold_for_new_forms() -> None:
    term = Term(start=dt.date(2025, 1, 1), end=dt.date(2044, 12, 31))
    assert scheduled_dates(Recurrence(on_demand=True), term, 10, CAL, SEASONS) == []
    with pytest.raises(TooManyOccurrences):
        scheduled_dates(Recurrence(workday={"n": 1, "of": "month"}), term, 100, CAL, SEASONS)
    with pytest.raises(TooManyOccurrences):
        scheduled_dates(Recurrence(anchor="qingming"), term, 5, CAL, SEASONS)


@pytest.mark.parametrize(
    ("fields", "fragment"),
    [
        ({"every": "month", "workday": {"n": 1, "of": "month"}}, "须且只能写一种日程"),
        ({"once": dt.date(2025, 1, 1), "offset": 3}, "offset / offset_unit 只能与 anchor 或 season 一起使用"),
        ({"anchor": "qingming", "at": "end"}, "at 只能与 season 一起使用"),
        ({"anchor": "qingming", "offset_unit": "workdays"}, "offset_unit: workdays 须配非零的 offset"),
        ({"anchor": "easter"}, "anchor: 'easter' 不是可用的节日；可选 spring_festival（春节）"),
        ({"workday": {"n": 1, "of": "week"}}, "of: 'week' 不是可用的周期；可选 month（月）"),
        ({"dates": ["2025/6/30"]}, "不是 YYYY-MM-DD 格式的日期"),
        ({"dates": ["2025-02-30"]}, "不是有效日期"),
        ({"dates": [dt.date(2025, 1, 2), dt.date(2025, 1, 2)]}, "日期 2025-01-02 重复"),
    ],
)
def test_schedule_form_errors_are_in_chinese(fields: dict[str, object], fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        Recurrence.model_validate(fields)


def test_count_and_until_together_are_refused() -> None:
    with pytest.raises(ValueError, match="COUNT 与 UNTIL 不能同时使用"):
        parse_rrule("FREQ=MONTHLY;COUNT=3;UNTIL=20260101", dt.date(2025, 1, 1))


# -- mutation-testing survivors (tests/MUTATION.md) -----------------------------------

YEAR_2025 = Term(start=dt.date(2025, 1, 1), end=dt.date(2025, 12, 31))


def _d(*days: str) -> list[dt.date]:
    return [dt.date.fromisoformat(d) for d in days]


def test_every_week_defaults_to_friday_from_the_first_one_in_the_term() -> None:
    # Starts on a Saturday (the first Friday is six days on) and ends on a Friday (which is still owed).
    term = Term(start=dt.date(2025, 1, 4), end=dt.date(2025, 1, 31))
    assert nominal_dates(Recurrence(every="week"), term, 10) == _d(
        "2025-01-10", "2025-01-17", "2025-01-24", "2025-01-31"
    )
    assert nominal_dates(Recurrence(every="week", day=7), term, 10) == _d(
        "2025-01-05", "2025-01-12", "2025-01-19", "2025-01-26"
    )


def test_every_week_day_must_be_an_iso_weekday() -> None:
    with pytest.raises(ValueError) as exc:
        nominal_dates(Recurrence(every="week", day=8), YEAR_2025, 10)
    assert str(exc.value) == "with every: week, day is an ISO weekday 1–7"


def test_every_month_on_a_day_and_period_ends_on_the_term_bounds() -> None:
    assert nominal_dates(
        Recurrence(every="month", day=15), Term(start=dt.date(2025, 1, 20), end=dt.date(2025, 4, 15)), 10
    ) == _d("2025-02-15", "2025-03-15", "2025-04-15")
    # A term that starts and ends on period ends owes both.
    assert nominal_dates(
        Recurrence(every="month"), Term(start=dt.date(2025, 1, 31), end=dt.date(2025, 3, 31)), 10
    ) == _d("2025-01-31", "2025-02-28", "2025-03-31")


def test_rrule_until_inside_and_beyond_the_term() -> None:
    inside = Recurrence(rrule="FREQ=MONTHLY;BYMONTHDAY=15;UNTIL=20250415")
    assert nominal_dates(inside, YEAR_2025, 20) == _d("2025-01-15", "2025-02-15", "2025-03-15", "2025-04-15")
    beyond = Recurrence(rrule="FREQ=MONTHLY;BYMONTHDAY=15;UNTIL=20300101")
    assert nominal_dates(beyond, Term(start=dt.date(2025, 10, 1), end=dt.date(2025, 12, 31)), 20) == _d(
        "2025-10-15", "2025-11-15", "2025-12-15"
    )


def test_rrule_interval_that_does_not_divide_400_years_keeps_its_phase() -> None:
    term = Term(start=dt.date(2025, 1, 1), end=dt.date(2026, 12, 31))
    rule = Recurrence(rrule="FREQ=MONTHLY;INTERVAL=7;BYMONTHDAY=1")
    assert nominal_dates(rule, term, 10) == _d("2025-01-01", "2025-08-01", "2026-03-01", "2026-10-01")


def test_rrule_by_easter_is_not_moved_by_whole_cycles() -> None:
    # Easter does not repeat every 400 years, so no fast-forward applies: each year's Western Easter.
    term = Term(start=dt.date(2024, 1, 1), end=dt.date(2033, 12, 31))
    assert nominal_dates(Recurrence(rrule="FREQ=YEARLY;BYEASTER=0"), term, 20) == [easter(y) for y in range(2024, 2034)]


def test_rrule_over_a_term_ending_in_2000_still_expands() -> None:
    # The fast-forward must leave the shifted end inside datetime's range (year 9999) for any term end.
    term = Term(start=dt.date(2000, 10, 1), end=dt.date(2000, 12, 31))
    assert nominal_dates(Recurrence(rrule="FREQ=MONTHLY;BYMONTHDAY=31"), term, 5) == _d("2000-10-31", "2000-12-31")


def test_nominal_dates_refuses_the_scheduled_forms() -> None:
    with pytest.raises(ValueError) as exc:
        nominal_dates(Recurrence(workday={"n": 1, "of": "month"}), YEAR_2025, 10)
    assert str(exc.value) == "nominal_dates takes rrule / every / once / deadline; use scheduled_dates"


def test_too_many_occurrences_says_how_to_fix_it() -> None:
    with pytest.raises(TooManyOccurrences) as exc:
        nominal_dates(Recurrence(rrule="FREQ=DAILY"), YEAR_2025, 10)
    assert str(exc.value) == (
        "recurrence yields more than 10 occurrences over the term; "
        "use a coarser rule or raise COOP_MAX_OCCURRENCES_PER_CLAUSE"
    )
    with pytest.raises(TooManyOccurrences) as exc:
        scheduled_dates(Recurrence(workday={"n": 1, "of": "month"}), YEAR_2025, 11, CAL, SEASONS)
    assert str(exc.value) == (
        "日程在协议期内超过 11 次；请改用更粗的规则或调高 COOP_MAX_OCCURRENCES_PER_CLAUSE (more than 11 occurrences)"
    )
    # Exactly the limit is fine.
    assert len(scheduled_dates(Recurrence(workday={"n": 1, "of": "month"}), YEAR_2025, 12, CAL, SEASONS)) == 12


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ("FREQ=HOURLY", "FREQ=HOURLY is finer than a day; due dates are whole days"),
        (
            "RRULE:COUNT=3;FREQ=MONTHLY;UNTIL=20260101",
            "COUNT 与 UNTIL 不能同时使用，请只写一个 (RFC 5545: COUNT and UNTIL exclude each other)",
        ),
        (
            "COUNT=3;UNTIL=20260101",
            "COUNT 与 UNTIL 不能同时使用，请只写一个 (RFC 5545: COUNT and UNTIL exclude each other)",
        ),
        ("FREQ=BOGUS", "not a valid RRULE (invalid 'FREQ': BOGUS)"),
        ("RRULE:FREQ=DAILY\nEXDATE:20250102T000000", "give a single RRULE"),
        ("FREQ=DAILY;INTERVAL=0", "INTERVAL must be at least 1"),
    ],
)
def test_parse_rrule_errors(rule: str, message: str) -> None:
    with pytest.raises(ValueError) as exc:
        parse_rrule(rule, dt.date(2025, 1, 1))
    assert str(exc.value) == message


def test_scheduled_dates_of_the_fixed_forms_are_nominal_dates_unmoved() -> None:
    assert scheduled_dates(Recurrence(every="quarter"), YEAR_2025, 10, CAL, SEASONS) == [
        (d, None, False) for d in _d("2025-03-31", "2025-06-30", "2025-09-30", "2025-12-31")
    ]


def test_explicit_dates_on_the_term_bounds_are_owed_and_not_provisional() -> None:
    found = scheduled_dates(Recurrence(dates=_d("2025-12-31", "2025-01-01", "2026-01-01")), YEAR_2025, 10, CAL, SEASONS)
    assert found == [(dt.date(2025, 1, 1), None, False), (dt.date(2025, 12, 31), None, False)]


def test_workday_rule_from_mid_period_and_up_to_a_period_start() -> None:
    # The term starts mid-quarter: that quarter's last working day is still owed.
    term = Term(start=dt.date(2025, 2, 15), end=dt.date(2025, 7, 1))
    found = scheduled_dates(Recurrence(workday={"n": -1, "of": "quarter"}), term, 10, CAL, SEASONS)
    assert [(n, d) for n, d, _ in found] == [
        (dt.date(2025, 3, 31), dt.date(2025, 3, 31)),
        (dt.date(2025, 6, 30), dt.date(2025, 6, 30)),
    ]
    # The term ends on the first day of a month that is a working day: the first working day of that month is owed.
    term = Term(start=dt.date(2025, 3, 1), end=dt.date(2025, 4, 1))
    found = scheduled_dates(Recurrence(workday={"n": 1, "of": "month"}), term, 10, CAL, SEASONS)
    assert [(n, d) for n, d, _ in found] == [
        (dt.date(2025, 3, 1), dt.date(2025, 3, 3)),
        (dt.date(2025, 4, 1), dt.date(2025, 4, 1)),
    ]


def test_workday_rule_counting_from_the_end_past_the_period_says_so() -> None:
    term = Term(start=dt.date(2025, 4, 1), end=dt.date(2025, 4, 30))
    count = len(_official_workdays(dt.date(2025, 4, 1), dt.date(2025, 4, 30)))
    with pytest.raises(ValueError) as exc:
        scheduled_dates(Recurrence(workday={"n": -30, "of": "month"}), term, 10, CAL, SEASONS)
    assert str(exc.value) == (
        f"2025-04-01 – 2025-04-30 只有 {count} 个工作日，没有倒数第 30 个 (the period has only {count} working days)"
    )


def test_festival_dates_on_the_term_bounds_and_provisional_working_day_offsets() -> None:
    day = Term(start=dt.date(2025, 10, 1), end=dt.date(2025, 10, 1))
    assert scheduled_dates(Recurrence(anchor="national_day"), day, 5, CAL, SEASONS) == [
        (dt.date(2025, 10, 1), None, False)
    ]
    eve = Term(start=dt.date(2025, 9, 30), end=dt.date(2025, 9, 30))
    assert scheduled_dates(
        Recurrence(anchor="national_day", offset=-1, offset_unit="workdays"), eve, 5, CAL, SEASONS
    ) == [(dt.date(2025, 10, 1), dt.date(2025, 9, 30), False)]
    # A due date in a year without an official schedule is provisional even though the festival date is not.
    later = Term(start=dt.date(2027, 1, 1), end=dt.date(2027, 12, 31))
    [(_, _, provisional)] = scheduled_dates(
        Recurrence(anchor="national_day", offset=-1, offset_unit="workdays"), later, 5, CAL, SEASONS
    )
    assert provisional


def test_an_unknown_season_is_a_value_error_with_the_calendar_message() -> None:
    with pytest.raises(ValueError) as exc:
        scheduled_dates(Recurrence(season="autumn_break"), YEAR_2025, 5, CAL, SEASONS)
    assert "没有名为 'autumn_break' 的时段" in str(exc.value)
    assert not isinstance(exc.value, CoopError)
