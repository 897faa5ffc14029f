"""Chinese working-day calendar (工作日历): which days government offices work.

Why this module exists: agreement deadlines such as "within 5 working days" or
"on the 10th, moved to the next working day" must follow the State Council
(国务院办公厅) holiday schedule, including 调休 make-up Saturdays/Sundays.

Sources, in order of authority:

* Years covered by ``chinese_calendar`` (official, published schedules) use
  ``chinese_calendar.is_workday`` verbatim.  Overrides never touch these years.
* Other years are *provisional*: Monday–Friday, minus the statutory holidays
  ``holidays.China`` computes, plus any make-up weekend days it knows about,
  then adjusted by an overrides YAML file.  Answers for these years may change
  once the official notice is published, so callers get a ``provisional`` flag.

Overrides file format (YAML mapping, both keys optional, dates ISO ``YYYY-MM-DD``)::

    # 2027 provisional adjustments until the State Council publishes the official schedule
    holidays: [2027-02-11, 2027-02-12]   # extra days off (e.g. bridge days of a 9-day block)
    workdays: [2027-01-31, 2027-02-14]   # 调休 make-up working days (weekend days worked)

A date may not appear in both lists.  Entries for years with official data are
ignored (official data wins).  ``None`` as the overrides path means the packaged
default ``coop/data/calendar_overrides.yaml``; a configured path *replaces* it.

Pure module: no Prefect, no database.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import chinese_calendar
import holidays as holidays_lib
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from coop.errors import CoopError

__all__ = ["WorkdayCalendar", "default_calendar", "DEFAULT_OVERRIDES", "MAX_GAP_DAYS"]

DEFAULT_OVERRIDES: Path = Path(__file__).resolve().parent / "data" / "calendar_overrides.yaml"
"""The packaged provisional schedule used when no overrides path is configured."""

MAX_GAP_DAYS: int = 60
"""More consecutive non-working days than this can only mean corrupt calendar data."""

AdjustRule = Literal["next", "previous", "none"]


@lru_cache(maxsize=1)
def _official_years() -> tuple[int, int]:
    """First and last year ``chinese_calendar`` has official data for, queried once.

    Read from the package's own tables so a newer ``chinesecalendar`` release
    (e.g. one adding 2027) is picked up without code changes.
    """
    from chinese_calendar import constants

    years = {d.year for d in constants.holidays} | {d.year for d in constants.workdays}
    return min(years), max(years)


@dataclass(frozen=True, slots=True)
class _Year:
    """Precomputed answers for one calendar year, so lookups are O(1) / O(log n)."""

    year: int
    start: int  # ordinal of Jan 1
    flags: bytes  # flags[i] == 1 when Jan 1 + i is a working day
    workdays: tuple[int, ...]  # sorted ordinals of the working days
    provisional: bool


class WorkdayCalendar:
    """Answers "is this a working day?" and working-day arithmetic for mainland China."""

    def __init__(self, overrides: Path | None = None) -> None:
        """Load the overrides file (``None`` → packaged default) and validate it eagerly.

        Eager validation means a broken overrides file fails at start-up, not in
        the middle of planning.
        """
        self.overrides_path: Path = Path(overrides) if overrides is not None else DEFAULT_OVERRIDES
        self._extra_holidays, self._extra_workdays = _load_overrides(self.overrides_path)
        self._years: dict[int, _Year] = {}
        # Build provisional years named in the overrides now, so a gap that the
        # overrides create (e.g. 70 days off in a row) is reported immediately.
        for d in sorted(self._extra_holidays | self._extra_workdays):
            if self.is_provisional(d):
                self._year(d.year)

    def __repr__(self) -> str:
        return f"WorkdayCalendar(overrides={str(self.overrides_path)!r})"

    # -- queries ---------------------------------------------------------------

    def is_workday(self, d: date) -> bool:
        """True when government offices work on ``d`` (调休 Saturdays included)."""
        t = self._year(d.year)
        return t.flags[d.toordinal() - t.start] == 1

    def is_provisional(self, d: date) -> bool:
        """True when ``d``'s year has no official schedule yet, so answers may change."""
        first, last = _official_years()
        return not (first <= d.year <= last)

    def adjust(self, d: date, rule: AdjustRule) -> tuple[date, bool]:
        """Move a non-working ``d`` to the next/previous working day.

        Returns ``(day, provisional)``; ``provisional`` is True when any day
        examined lies in a provisional year, so the caller can flag the
        deadline as subject to change.  A working day is returned unchanged.
        """
        if rule not in ("next", "previous", "none"):
            raise CoopError(f"unknown adjustment rule {rule!r} (expected 'next', 'previous' or 'none')")
        if rule == "none" or self.is_workday(d):
            return d, self.is_provisional(d)
        target = self.add_workdays(d, 1 if rule == "next" else -1)
        gap = abs((target - d).days)
        if gap > MAX_GAP_DAYS:
            raise CoopError(
                f"{gap} consecutive non-working days around {d.isoformat()}; "
                f"calendar data ({self.overrides_path}) must be corrupt"
            )
        lo, hi = min(d, target), max(d, target)
        return target, any(self._year(y).provisional for y in range(lo.year, hi.year + 1))

    def add_workdays(self, d: date, n: int) -> date:
        """The ``n``-th working day after ``d`` (``n > 0``) or before it (``n < 0``).

        ``d`` itself need not be a working day and is never counted; ``n == 0``
        returns ``d`` unchanged.  Uses per-year sorted tables, so cost is
        O(log 366) per year crossed rather than one step per day.
        """
        if n == 0:
            return d
        o = d.toordinal()
        y = d.year
        t = self._year(y)
        try:
            if n > 0:
                i = bisect_right(t.workdays, o)  # working days <= d are behind us
                while i + n > len(t.workdays):
                    n -= len(t.workdays) - i
                    y += 1
                    t = self._year(y)
                    i = 0
                return date.fromordinal(t.workdays[i + n - 1])
            m = -n
            i = bisect_left(t.workdays, o)  # working days strictly before d
            while i < m:
                m -= i
                y -= 1
                t = self._year(y)
                i = len(t.workdays)
            return date.fromordinal(t.workdays[i - m])
        except (ValueError, OverflowError) as exc:
            raise CoopError(f"{d.isoformat()} {n:+d} working days falls outside the supported date range") from exc

    def workdays_between(self, a: date, b: date) -> int:
        """Number of working days in ``(a, b]``; negative when ``b < a``.

        Consistent with :meth:`add_workdays`: ``workdays_between(d, add_workdays(d, n)) == n``
        for ``n > 0``.
        """
        if b < a:
            return -self.workdays_between(b, a)
        total = sum(len(self._year(y).workdays) for y in range(a.year, b.year))
        return total + self._rank(b) - self._rank(a)

    # -- internals -------------------------------------------------------------

    def _rank(self, d: date) -> int:
        """Working days from Jan 1 of ``d``'s year up to and including ``d``."""
        return bisect_right(self._year(d.year).workdays, d.toordinal())

    def _year(self, y: int) -> _Year:
        """The cached table for year ``y``, built on first use."""
        t = self._years.get(y)
        if t is None:
            t = self._build_year(y)
            self._years[y] = t
        return t

    def _build_year(self, y: int) -> _Year:
        """Compute every day of year ``y`` once; official data first, else provisional rules."""
        try:
            start = date(y, 1, 1)
        except ValueError as exc:
            raise CoopError(f"year {y} is outside the supported date range") from exc
        days = [start + timedelta(i) for i in range((date(y, 12, 31) - start).days + 1)]
        provisional = self.is_provisional(start)
        flags: bytes | None = None
        if not provisional:
            try:
                flags = bytes(1 if chinese_calendar.is_workday(d) else 0 for d in days)
            except NotImplementedError:  # data range narrower than advertised: fall back
                provisional = True
        if flags is None:
            flags = self._provisional_flags(y, days)
        self._check_gaps(y, days, flags)
        start_ord = start.toordinal()
        workdays = tuple(start_ord + i for i, f in enumerate(flags) if f)
        return _Year(year=y, start=start_ord, flags=flags, workdays=workdays, provisional=provisional)

    def _provisional_flags(self, y: int, days: list[date]) -> bytes:
        """Mon–Fri minus ``holidays.China``, plus its make-up weekends, then the overrides."""
        cn = holidays_lib.China(years=y)
        off = set(cn.keys())
        make_up = {d for d in getattr(cn, "weekend_workdays", ()) if d.year == y}
        flags = bytearray(len(days))
        for i, d in enumerate(days):
            if d in self._extra_workdays:
                flags[i] = 1
            elif d in self._extra_holidays:
                flags[i] = 0
            elif d in make_up:
                flags[i] = 1
            else:
                flags[i] = 1 if d.weekday() < 5 and d not in off else 0
        return bytes(flags)

    def _check_gaps(self, y: int, days: list[date], flags: bytes) -> None:
        """Refuse a year with an absurd run of days off; it means corrupt data, and bounds every walk."""
        run = 0
        for i, f in enumerate(flags):
            run = 0 if f else run + 1
            if run > MAX_GAP_DAYS:
                raise CoopError(
                    f"{self.overrides_path}: more than {MAX_GAP_DAYS} consecutive non-working days "
                    f"ending {days[i].isoformat()} in {y}; calendar data must be corrupt"
                )


def _load_overrides(path: Path) -> tuple[frozenset[date], frozenset[date]]:
    """Parse and validate an overrides file, reporting every problem with its line number."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CoopError(f"{path}: cannot read calendar overrides file ({exc.strerror or exc})") from exc
    try:
        data: Any = YAML(typ="rt").load(text)
    except YAMLError as exc:
        raise CoopError(f"{path}: calendar overrides file is not valid YAML: {exc}") from exc
    except ValueError as exc:  # ruamel builds dates while parsing, so 2027-02-30 fails here
        raise CoopError(f"{path}: calendar overrides file has an invalid date: {exc}") from exc
    if data is None:
        return frozenset(), frozenset()
    if not isinstance(data, dict):
        raise CoopError(f"{path}: calendar overrides must be a mapping with 'holidays' and/or 'workdays' lists")

    problems: list[str] = []

    def where(line: int | None) -> str:
        return f"{path}:{line + 1}" if line is not None else str(path)

    unknown = [k for k in data if k not in ("holidays", "workdays")]
    for k in unknown:
        problems.append(f"{where(_key_line(data, k))}: unknown key {k!r} (expected 'holidays' or 'workdays')")

    parsed: dict[str, dict[date, int | None]] = {"holidays": {}, "workdays": {}}
    for key in ("holidays", "workdays"):
        items = data.get(key)
        if items is None:
            continue
        if not isinstance(items, list):
            problems.append(f"{where(_key_line(data, key))}: '{key}' must be a list of dates like 2027-02-05")
            continue
        for idx, raw in enumerate(items):
            line = _item_line(items, idx)
            d = _as_date(raw)
            if d is None:
                problems.append(f"{where(line)}: '{key}' entry {raw!r} is not a date like 2027-02-05")
            elif d in parsed[key]:
                problems.append(f"{where(line)}: {d.isoformat()} listed twice in '{key}'")
            else:
                parsed[key][d] = line
    for d in sorted(parsed["holidays"].keys() & parsed["workdays"].keys()):
        problems.append(f"{where(parsed['workdays'][d])}: {d.isoformat()} is listed as both a holiday and a workday")
    if problems:
        raise CoopError("\n".join(problems))
    return frozenset(parsed["holidays"]), frozenset(parsed["workdays"])


def _as_date(raw: object) -> date | None:
    """Accept a YAML date or an ISO string; reject timestamps and anything else."""
    if isinstance(raw, datetime):  # datetime is a date subclass; a time of day is a mistake here
        return None
    if isinstance(raw, date):
        return date(raw.year, raw.month, raw.day)
    if isinstance(raw, str):
        try:
            return date.fromisoformat(raw.strip())
        except ValueError:
            return None
    return None


def _key_line(mapping: Any, key: object) -> int | None:
    """0-based line of ``key`` in a round-trip mapping, if ruamel recorded it."""
    try:
        return int(mapping.lc.key(key)[0])
    except (AttributeError, KeyError, TypeError):
        return None


def _item_line(seq: Any, idx: int) -> int | None:
    """0-based line of item ``idx`` in a round-trip sequence, if ruamel recorded it."""
    try:
        return int(seq.lc.item(idx)[0])
    except (AttributeError, KeyError, TypeError, IndexError):
        return None


@lru_cache
def default_calendar() -> WorkdayCalendar:
    """The process-wide calendar, honouring ``COOP_CALENDAR_OVERRIDES``; built once because tables are costly."""
    from coop.settings import get_settings

    return WorkdayCalendar(get_settings().calendar_overrides)
