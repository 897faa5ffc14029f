"""Clause recurrence → dates over the agreement term.

`nominal_dates` serves the forms whose due date is a nominal date moved off non-working days by `adjust`
(rrule / every / once / deadline). `scheduled_dates` serves every form: for `workday` rules and working-day
offsets it also gives the due date, already a working day, which `adjust` must not move again. The nominal
date is the occurrence's identity (clause@nominal-date), so it never depends on the holiday calendar:
a `workday` rule's is its period's first day (last day when counted from the end); a festival's is the
festival itself (moved by `offset` calendar days).
"""

from __future__ import annotations

import calendar as _cal
import datetime as dt
import math
from collections.abc import Iterator
from itertools import islice

from dateutil.rrule import DAILY, MONTHLY, WEEKLY, YEARLY, rrule

from coop.agreement.rrule import parse_rrule, rule_fields
from coop.agreement.schema import Recurrence, Term, WorkdayRule
from coop.calendar import SeasonCalendar, WorkdayCalendar, festival_date
from coop.errors import CoopError
from coop.seasons import RegionalSeasons, regional_seasons

_PERIOD_MONTHS = {"month": 1, "quarter": 3, "half_year": 6, "year": 12}
# The Gregorian calendar repeats exactly every 400 years (146 097 days, a whole number of weeks):
# how many of each rule period one such cycle holds.
_CYCLE_YEARS = 400
_PERIODS_PER_CYCLE = {YEARLY: 400, MONTHLY: 4800, WEEKLY: 20871, DAILY: 146097}


class TooManyOccurrences(ValueError):
    pass


Scheduled = tuple[dt.date, dt.date | None, bool]
"""(nominal date, due date when the rule fixes it to a working day else None, provisional by the rule's data)."""


def nominal_dates(rec: Recurrence, term: Term, limit: int) -> list[dt.date]:
    """Dates in [term.start, term.end], at most `limit` of them (more raises TooManyOccurrences).

    Only the forms moved by `adjust` (`rec.fixed_form`); `scheduled_dates` takes every form."""
    if not rec.fixed_form or rec.on_demand:
        raise ValueError("nominal_dates takes rrule / every / once / deadline; use scheduled_dates")
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
            f"recurrence yields more than {limit} occurrences over the term; "
            "use a coarser rule or raise COOP_MAX_OCCURRENCES_PER_CLAUSE"
        )
    return dates


def scheduled_dates(
    rec: Recurrence, term: Term, limit: int, calendar: WorkdayCalendar, seasons: SeasonCalendar
) -> list[Scheduled]:
    """Every occurrence date of any form, in order; `on_demand` has none until someone opens one."""
    if rec.on_demand:
        return []
    if rec.fixed_form:
        return [(d, None, False) for d in nominal_dates(rec, term, limit)]
    try:
        if rec.workday is not None:
            found = list(islice(_workday_dates(rec.workday, term, calendar), limit + 1))
        elif rec.dates is not None:
            found = [(d, None, False) for d in sorted(rec.dates) if term.start <= d <= term.end]
        else:
            found = _yearly(rec, term, calendar, seasons)
    except CoopError as exc:
        raise ValueError(str(exc)) from None
    if len(found) > limit:
        raise TooManyOccurrences(
            f"日程在协议期内超过 {limit} 次；请改用更粗的规则或调高 COOP_MAX_OCCURRENCES_PER_CLAUSE "
            f"(more than {limit} occurrences)"
        )
    return found


def _workday_dates(rule: WorkdayRule, term: Term, calendar: WorkdayCalendar) -> Iterator[Scheduled]:
    """The n-th working day of each calendar-aligned period whose result falls in the term."""
    step = _PERIOD_MONTHS[rule.of]
    index = term.start.year * 12 + term.start.month - 1
    index -= index % 12 % step  # the period holding the term start
    one = dt.timedelta(days=1)
    while True:
        year, month0 = divmod(index, 12)
        first = dt.date(year, month0 + 1, 1)
        if first > term.end:
            return
        next_year, next_month0 = divmod(index + step, 12)
        last = dt.date(next_year, next_month0 + 1, 1) - one
        if rule.n > 0:
            nominal, due = first, calendar.add_workdays(first - one, rule.n)
        else:
            nominal, due = last, calendar.add_workdays(last + one, rule.n)
        if not first <= due <= last:
            count = calendar.workdays_between(first - one, last)
            raise ValueError(
                f"{first} – {last} 只有 {count} 个工作日，没有{'' if rule.n > 0 else '倒数'}第 {abs(rule.n)} 个 "
                f"(the period has only {count} working days)"
            )
        if term.start <= due <= term.end:
            yield nominal, due, calendar.is_provisional(due)
        index += step


def _yearly(rec: Recurrence, term: Term, calendar: WorkdayCalendar, seasons: SeasonCalendar) -> list[Scheduled]:
    """One date a year from a festival or a season, moved by `offset` calendar or working days."""
    found: dict[dt.date, Scheduled] = {}
    # An offset of up to a year can carry a neighbouring year's festival or season into the term.
    for year in range(term.start.year - 2, term.end.year + 2):
        provisional = False
        if rec.anchor is not None:
            base = festival_date(rec.anchor, year)
        else:
            assert rec.season is not None
            if rec.region is None:
                season = seasons.season(rec.season, year)
            else:  # the region's own table, or the national one for a season the region does not define
                regional = seasons if isinstance(seasons, RegionalSeasons) else regional_seasons(seasons.path)
                season = regional.season(rec.season, year, rec.region)
            base = season.end if rec.at == "end" else season.start
            provisional = season.provisional
        if rec.offset_unit == "workdays":
            due = calendar.add_workdays(base, rec.offset or 0)
            if term.start <= due <= term.end:
                found[base] = (base, due, provisional or calendar.is_provisional(due))
        else:
            nominal = base + dt.timedelta(days=rec.offset or 0)
            if term.start <= nominal <= term.end:
                found[nominal] = (nominal, None, provisional)
    return [found[d] for d in sorted(found)]


def _until(rule: rrule, until: dt.datetime) -> Iterator[dt.date]:
    """Dates of `rule` up to `until`.

    dateutil looks for a rule's next date until the year 9999 before it gives up, so a rule that can
    never match (30 February) takes seconds per clause. The rule is evaluated whole 400-year cycles
    later instead — the same dates, shifted — so that search ends a few centuries after the term.
    """
    years = _fast_forward(rule, until.year)
    if years:
        fields = rule_fields(rule)
        start = fields._dtstart.replace(year=fields._dtstart.year + years)
        if fields._until is None:
            rule = rule.replace(dtstart=start)
        else:
            end = min(fields._until, until)
            rule = rule.replace(dtstart=start, until=end.replace(year=end.year + years))
        until = until.replace(year=until.year + years)
    for moment in rule:
        if moment > until:
            return
        yield moment.date().replace(year=moment.year - years)


def _fast_forward(rule: rrule, last_year: int) -> int:
    """Years (a multiple of 400 that keeps a whole number of the rule's intervals) to move the rule by."""
    fields = rule_fields(rule)
    if fields._byeaster or fields._freq not in _PERIODS_PER_CYCLE:  # Easter does not repeat every 400 years
        return 0
    per_cycle = _PERIODS_PER_CYCLE[fields._freq]
    step = fields._interval // math.gcd(fields._interval, per_cycle)  # cycles that hold whole intervals
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
