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
    official: [2027]                     # optional: these years' lists are transcribed from the published notice

A date may not appear in both lists.  A year under ``official`` is no longer provisional (the notice is out and
its dates are in the lists, before a ``chinesecalendar`` release ships them).  Entries for years with official data are
ignored (official data wins).  ``None`` as the overrides path means the packaged
default ``coop/data/calendar_overrides.yaml``; a configured path *replaces* it.

Festivals and school seasons live here too: ``festival_date`` gives the day a festival falls on
(春节 / 端午 / 中秋 from the lunar calendar via ``lunardate``, 清明 from ``chinese_calendar``'s solar
terms, 国庆 on 1 October), the same in every year whether or not official holiday data exists; and
``SeasonCalendar`` reads 寒假 / 暑假 dates from a YAML file (``coop/data/seasons.yaml`` by default).

Pure module: no Prefect, no database.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, get_args

import chinese_calendar
from chinese_calendar import constants
from holidays import country_holidays
from lunardate import LunarDate
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from coop.errors import CoopError
from coop.settings import get_settings

__all__ = [
    "WorkdayCalendar",
    "default_calendar",
    "DEFAULT_OVERRIDES",
    "DEFAULT_SEASONS",
    "MAX_GAP_DAYS",
    "Festival",
    "FESTIVAL_LABELS",
    "SEASON_LABELS",
    "festival_date",
    "SeasonCalendar",
    "Season",
    "season_calendar",
]

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
        self._extra_holidays, self._extra_workdays, self._official = _load_overrides(self.overrides_path)
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
        return not (first <= d.year <= last or d.year in self._official)

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
        first, last = _official_years()
        if not provisional and first <= y <= last:
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
        cn = country_holidays("CN", years=y)
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


def _load_overrides(path: Path) -> tuple[frozenset[date], frozenset[date], frozenset[int]]:
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
        return frozenset(), frozenset(), frozenset()
    if not isinstance(data, dict):
        raise CoopError(f"{path}: calendar overrides must be a mapping with 'holidays' and/or 'workdays' lists")

    problems: list[str] = []

    def where(line: int | None) -> str:
        return f"{path}:{line + 1}" if line is not None else str(path)

    unknown = [k for k in data if k not in ("holidays", "workdays", "official")]
    for k in unknown:
        problems.append(
            f"{where(_key_line(data, k))}: unknown key {k!r} (expected 'holidays', 'workdays' or 'official')"
        )
    official = data.get("official") or []
    if not isinstance(official, list) or not all(isinstance(y, int) and 1900 < y < 2200 for y in official):
        problems.append(f"{where(_key_line(data, 'official'))}: 'official' must be a list of years like [2027]")
        official = []

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
    return frozenset(parsed["holidays"]), frozenset(parsed["workdays"]), frozenset(official)


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
    return WorkdayCalendar(get_settings().calendar_overrides)


# -- festivals -------------------------------------------------------------------

Festival = Literal["spring_festival", "qingming", "dragon_boat", "mid_autumn", "national_day"]
FESTIVAL_LABELS: dict[str, str] = {
    "spring_festival": "春节",
    "qingming": "清明节",
    "dragon_boat": "端午节",
    "mid_autumn": "中秋节",
    "national_day": "国庆节",
}
# Lunar month and day of the lunar festivals (春节 正月初一, 端午 五月初五, 中秋 八月十五).
_LUNAR: dict[str, tuple[int, int]] = {"spring_festival": (1, 1), "dragon_boat": (5, 5), "mid_autumn": (8, 15)}
# lunardate's tables cover Chinese years 1900–2099.
_LUNAR_YEARS = (1900, 2099)


def festival_date(festival: Festival, year: int) -> date:
    """The day ``festival`` falls on in Gregorian ``year``: the festival itself, not its holiday block.

    Computed (lunar calendar, solar term, fixed date), so it is the same before and after the State Council
    publishes a year's holiday schedule; the working-day arithmetic around it is what follows the schedule.
    """
    if festival not in FESTIVAL_LABELS:
        raise CoopError(f"未知节日 '{festival}'，可选：{'、'.join(get_args(Festival))} (unknown festival)")
    if festival == "national_day":
        return date(year, 10, 1)
    if festival == "qingming":
        try:
            terms = chinese_calendar.get_solar_terms(date(year, 4, 1), date(year, 4, 10))
        except NotImplementedError:  # chinese_calendar computes solar terms for 1900–2100 only
            terms = []
        day: date | None = next((d for d, name in terms if name == "清明"), None)
        if day is None:
            raise CoopError(f"{year} 年的清明日期无法计算（节气数据只覆盖 1900–2100 年）")
        return day
    if not _LUNAR_YEARS[0] <= year <= _LUNAR_YEARS[1]:
        first, last = _LUNAR_YEARS
        raise CoopError(f"{year} 年的{FESTIVAL_LABELS[festival]}日期无法计算（农历数据只覆盖 {first}–{last} 年）")
    month, day_of_month = _LUNAR[festival]
    # The lunar year that starts in Gregorian `year` holds its 端午 and 中秋; 春节 is its first day.
    solar: date = LunarDate(year, month, day_of_month).to_solar_date()
    return solar


# -- school seasons ----------------------------------------------------------------

DEFAULT_SEASONS: Path = Path(__file__).resolve().parent / "data" / "seasons.yaml"
"""The packaged season table (寒假 / 暑假), flagged as shipped defaults inside the file."""

SEASON_LABELS: dict[str, str] = {"winter_vacation": "寒假", "summer_vacation": "暑假"}


@dataclass(frozen=True, slots=True)
class Season:
    """One season's first and last day in one year; `provisional` unless the file lists that year's dates and is
    not the shipped defaults."""

    name: str
    start: date
    end: date
    provisional: bool


@dataclass(frozen=True, slots=True)
class _SeasonRule:
    label: str
    start: tuple[int, int] | tuple[Festival, int]  # (month, day) or (festival, offset in days)
    end: tuple[int, int] | tuple[Festival, int]
    years: dict[int, tuple[date, date]]


class SeasonCalendar:
    """寒假 / 暑假 dates per year: a year listed under ``years`` wins; otherwise the season's rule applies.

    The file (``None`` → the packaged ``coop/data/seasons.yaml``) says ``shipped_default: true`` when its dates
    are the generic defaults rather than a province's published school calendar. A season is provisional (may
    move once the school calendar is known) when it comes from the rule or from a shipped-default file.
    """

    def __init__(self, path: Path | None = None) -> None:
        self.path: Path = Path(path) if path is not None else DEFAULT_SEASONS
        self.shipped_default, self._rules = _load_seasons(self.path)

    def __repr__(self) -> str:
        return f"SeasonCalendar(path={str(self.path)!r})"

    @property
    def names(self) -> list[str]:
        return sorted(self._rules)

    def season(self, name: str, year: int) -> Season:
        """The season ``name`` that starts in ``year``."""
        rule = self._rules.get(name)
        if rule is None:
            known = "、".join(f"{n}（{r.label}）" for n, r in sorted(self._rules.items())) or "（无）"
            raise CoopError(f"{self.path}: 没有名为 '{name}' 的时段；已定义：{known} (unknown season)")
        listed = rule.years.get(year)
        if listed is not None:
            return Season(name, listed[0], listed[1], provisional=self.shipped_default)
        start, end = _rule_day(rule.start, year), _rule_day(rule.end, year)
        if end < start:
            end = _rule_day(rule.end, year + 1)  # a season that runs over New Year
        return Season(name, start, end, provisional=True)

    def label(self, name: str) -> str:
        rule = self._rules.get(name)
        return rule.label if rule else name


def _rule_day(spec: tuple[int, int] | tuple[Festival, int], year: int) -> date:
    first, second = spec
    if isinstance(first, str):
        return festival_date(first, year) + timedelta(days=second)
    return date(year, first, second)


def _load_seasons(path: Path) -> tuple[bool, dict[str, _SeasonRule]]:
    """Parse and validate a season file; every problem with its line number, in Chinese."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CoopError(f"{path}: 无法读取时段（寒暑假）文件 ({exc.strerror or exc})") from exc
    try:
        data: Any = YAML(typ="rt").load(text)
    except (YAMLError, ValueError) as exc:
        raise CoopError(f"{path}: 时段文件不是有效的 YAML：{exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("seasons"), dict):
        raise CoopError(f"{path}: 时段文件须是映射，含 seasons: {{summer_vacation: ..., winter_vacation: ...}}")
    problems: list[str] = []

    def where(node: Any, key: object) -> str:
        line = _key_line(node, key)
        return f"{path}:{line + 1}" if line is not None else str(path)

    for key in data:
        if key not in ("shipped_default", "seasons"):
            problems.append(f"{where(data, key)}: 未知的键 '{key}'（可用 shipped_default、seasons）")
    flag = data.get("shipped_default", False)
    if not isinstance(flag, bool):
        problems.append(f"{where(data, 'shipped_default')}: shipped_default 须是 true 或 false")
    rules: dict[str, _SeasonRule] = {}
    seasons = data["seasons"]
    for name, body in seasons.items():
        at = where(seasons, name)
        if not isinstance(name, str) or not re.fullmatch(r"[a-z][a-z0-9_]{0,39}", name):
            problems.append(f"{at}: 时段名 '{name}' 须是小写英文标识，如 summer_vacation")
            continue
        if not isinstance(body, dict):
            problems.append(f"{at}: 时段 '{name}' 须是映射（name、start、end、years）")
            continue
        for key in body:
            if key not in ("name", "start", "end", "years"):
                problems.append(f"{where(body, key)}: 时段 '{name}' 中未知的键 '{key}'（可用 name、start、end、years）")
        label = body.get("name", SEASON_LABELS.get(name, name))
        start = _rule_spec(body.get("start"), f"{where(body, 'start')}: 时段 '{name}' 的 start", problems)
        end = _rule_spec(body.get("end"), f"{where(body, 'end')}: 时段 '{name}' 的 end", problems)
        years: dict[int, tuple[date, date]] = {}
        listed = body.get("years") or {}
        if not isinstance(listed, dict):
            problems.append(f"{where(body, 'years')}: years 须是 年份: [开始日期, 结束日期] 的映射")
            listed = {}
        for year, pair in listed.items():
            here = f"{where(listed, year)}: 时段 '{name}' {year} 年"
            days = [_as_date(d) for d in pair] if isinstance(pair, list) and len(pair) == 2 else None
            if not isinstance(year, int) or days is None or None in days:
                problems.append(f"{here}：须写成 {year}: [YYYY-MM-DD, YYYY-MM-DD]（开始、结束日期）")
                continue
            first, last = days[0], days[1]
            assert first is not None and last is not None
            if first.year != year or last < first:
                problems.append(f"{here}：开始日期须在 {year} 年内，结束日期不早于开始日期")
                continue
            years[year] = (first, last)
        if start is not None and end is not None:
            rules[name] = _SeasonRule(str(label), start, end, years)
    if problems:
        raise CoopError("\n".join(problems))
    return bool(flag), rules


def _rule_spec(raw: object, where: str, problems: list[str]) -> tuple[int, int] | tuple[Festival, int] | None:
    """``"07-01"`` (every year's month-day) or ``{anchor: spring_festival, offset: -21}`` (days from the festival)."""
    if isinstance(raw, str) and (m := re.fullmatch(r"(\d{2})-(\d{2})", raw.strip())):
        month, day = int(m.group(1)), int(m.group(2))
        try:
            # A common year: the rule applies every year, and "02-29" would not exist in three of four.
            date(2023, month, day)
        except ValueError:
            problems.append(f"{where} '{raw}' 不是有效的月-日")
            return None
        return month, day
    if isinstance(raw, dict) and set(raw) <= {"anchor", "offset"} and raw.get("anchor") in FESTIVAL_LABELS:
        offset = raw.get("offset", 0)
        if isinstance(offset, int) and not isinstance(offset, bool) and abs(offset) <= 120:
            return raw["anchor"], offset
    problems.append(
        f'{where} 须写成 "MM-DD"（每年同一天，如 "07-01"）或 {{anchor: spring_festival, offset: -21}}'
        f"（节日前后若干天，anchor 可选 {'、'.join(FESTIVAL_LABELS)}）"
    )
    return None


@lru_cache
def season_calendar(path: Path | None = None) -> SeasonCalendar:
    """One season table per file and process (``None`` → the packaged defaults)."""
    return SeasonCalendar(path)
