"""Clause recurrence → nominal dates over the agreement term (before working-day adjustment)."""

from __future__ import annotations

import calendar as _cal
import datetime as dt
import math
from collections.abc import Iterator
from itertools import islice

from dateutil.rrule import DAILY, MONTHLY, WEEKLY, YEARLY, rrule, rrulestr

from coop.agreement.schema import Recurrence, Term

_PERIOD_MONTHS = {"month": 1, "quarter": 3, "half_year": 6, "year": 12}
_FORBIDDEN_FREQ = ("SECONDLY", "MINUTELY", "HOURLY")
# The Gregorian calendar repeats exactly every 400 years (146 097 days, a whole number of weeks):
# how many of each rule period one such cycle holds.
_CYCLE_YEARS = 400
_PERIODS_PER_CYCLE = {YEARLY: 400, MONTHLY: 4800, WEEKLY: 20871, DAILY: 146097}


class TooManyOccurrences(ValueError):
    pass


def parse_rrule(rule: str, start: dt.date) -> rrule:
    """Parse an RRULE anchored at the term start; sub-daily rules make no sense for due dates."""
    upper = rule.upper()
    for freq in _FORBIDDEN_FREQ:
        if f"FREQ={freq}" in upper:
            raise ValueError(f"FREQ={freq} is finer than a day; due dates are whole days")
    try:
        parsed = rrulestr(rule, dtstart=dt.datetime.combine(start, dt.time()))
    except (ValueError, TypeError) as exc:
        raise ValueError(f"not a valid RRULE ({exc})") from None
    if not isinstance(parsed, rrule):
        raise ValueError("give a single RRULE")
    if parsed._interval < 1:
        raise ValueError("INTERVAL must be at least 1")
    return parsed


def nominal_dates(rec: Recurrence, term: Term, limit: int) -> list[dt.date]:
    """Dates in [term.start, term.end], at most `limit` of them (more raises TooManyOccurrences)."""
    if rec.once is not None:
        return [rec.once]
    if rec.deadline is not None:
        return [rec.deadline]
    if rec.every is not None:
        source: Iterator[dt.date] = _period_ends(rec.every, rec.day, term)
    else:
        assert rec.rrule is not None
        rule = parse_rrule(rec.rrule, term.start)
        until = dt.datetime.combine(term.end, dt.time(23, 59, 59))
        source = _until(rule, until)
    dates = list(islice(source, limit + 1))
    if len(dates) > limit:
        raise TooManyOccurrences(
            f"recurrence yields more than {limit} occurrences over the term; use a coarser rule or raise COOP_MAX_OCCURRENCES_PER_CLAUSE"
        )
    return dates


def _until(rule: rrule, until: dt.datetime) -> Iterator[dt.date]:
    """Dates of `rule` up to `until`.

    dateutil looks for a rule's next date until the year 9999 before it gives up, so a rule that can
    never match (30 February) takes seconds per clause. The rule is evaluated whole 400-year cycles
    later instead — the same dates, shifted — so that search ends a few centuries after the term.
    """
    years = _fast_forward(rule, until.year)
    if years:
        moved: dict[str, dt.datetime] = {"dtstart": rule._dtstart.replace(year=rule._dtstart.year + years)}  # type: ignore[union-attr]
        if rule._until is not None:
            moved["until"] = min(rule._until, until).replace(year=min(rule._until, until).year + years)
        rule, until = rule.replace(**moved), until.replace(year=until.year + years)
    for moment in rule:
        if moment > until:
            return
        yield moment.date().replace(year=moment.year - years)


def _fast_forward(rule: rrule, last_year: int) -> int:
    """Years (a multiple of 400 that keeps a whole number of the rule's intervals) to move the rule by."""
    if rule._byeaster or rule._freq not in _PERIODS_PER_CYCLE:  # Easter does not repeat every 400 years
        return 0
    per_cycle = _PERIODS_PER_CYCLE[rule._freq]
    step = rule._interval // math.gcd(rule._interval, per_cycle)  # cycles that hold whole intervals
    room = (dt.MAXYEAR - 1 - last_year) // _CYCLE_YEARS
    return room // step * step * _CYCLE_YEARS


def _period_ends(every: str, day: int | None, term: Term) -> Iterator[dt.date]:
    if every == "week":
        weekday = (day or 5) - 1  # ISO weekday, default Friday
        if weekday > 6:
            raise ValueError("with every: week, day is an ISO weekday 1–7")
        first = term.start + dt.timedelta(days=(weekday - term.start.weekday()) % 7)
        for moment in rrule(DAILY, interval=7, dtstart=dt.datetime.combine(first, dt.time())):
            if moment.date() > term.end:
                return
            yield moment.date()
        return
    step = _PERIOD_MONTHS[every]
    # Periods are aligned to the calendar (quarters end in Mar/Jun/Sep/Dec, half-years in Jun/Dec).
    month_index = term.start.year * 12 + term.start.month - 1
    month_index += (step - 1 - month_index % 12 % step) % step
    while True:
        year, month0 = divmod(month_index, 12)
        last = _cal.monthrange(year, month0 + 1)[1]
        due = dt.date(year, month0 + 1, min(day or last, last))
        if due > term.end:
            return
        if due >= term.start:
            yield due
        month_index += step
