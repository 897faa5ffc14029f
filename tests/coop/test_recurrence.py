"""Recurrence expansion: every form stays inside the term, in order, without repeats, and is bounded."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from coop.agreement.schema import Recurrence, Term
from coop.recurrence import TooManyOccurrences, nominal_dates

starts = st.dates(min_value=dt.date(2020, 1, 1), max_value=dt.date(2030, 12, 31))
lengths = st.integers(min_value=0, max_value=5 * 366)
periods = st.sampled_from(["week", "month", "quarter", "half_year", "year"])


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


@given(start=starts, length=lengths, interval=st.integers(1, 12), monthday=st.integers(1, 28))
def test_rrule_monthly_matches_its_definition(start: dt.date, length: int, interval: int, monthday: int) -> None:
    term = Term(start=start, end=start + dt.timedelta(days=length))
    dates = nominal_dates(
        Recurrence(rrule=f"FREQ=MONTHLY;INTERVAL={interval};BYMONTHDAY={monthday}"), term, limit=10_000
    )
    assert all(d.day == monthday and term.start <= d <= term.end for d in dates)
    steps = [(b.year * 12 + b.month) - (a.year * 12 + a.month) for a, b in zip(dates, dates[1:])]
    assert all(s == interval for s in steps)


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
