"""RRULE text → a dateutil rule: parsed and checked here, below both the loader (which reports a bad rule with
its file and line) and `coop.recurrence` (which expands a good one)."""

from __future__ import annotations

import datetime as dt
from typing import Protocol, cast

from dateutil.rrule import rrule, rrulestr

_FORBIDDEN_FREQ = ("SECONDLY", "MINUTELY", "HOURLY")


class RuleFields(Protocol):
    """The parsed fields dateutil keeps on an `rrule`: private, so its stubs leave them out; read-only here."""

    _freq: int
    _interval: int
    _dtstart: dt.datetime
    _until: dt.datetime | None
    _byeaster: tuple[int, ...] | None


def rule_fields(rule: rrule) -> RuleFields:
    return cast(RuleFields, rule)


def parse_rrule(rule: str, start: dt.date) -> rrule:
    """Parse an RRULE anchored at the term start; sub-daily rules make no sense for due dates."""
    upper = rule.upper()
    for freq in _FORBIDDEN_FREQ:
        if f"FREQ={freq}" in upper:
            raise ValueError(f"FREQ={freq} is finer than a day; due dates are whole days")
    keys = {part.split("=", 1)[0].strip() for part in upper.removeprefix("RRULE:").split(";")}
    if {"COUNT", "UNTIL"} <= keys:
        # RFC 5545 forbids both; dateutil only warns, and would one day refuse
        raise ValueError("COUNT 与 UNTIL 不能同时使用，请只写一个 (RFC 5545: COUNT and UNTIL exclude each other)")
    try:
        parsed = rrulestr(rule, dtstart=dt.datetime.combine(start, dt.time()))
    except (ValueError, TypeError) as exc:
        raise ValueError(f"not a valid RRULE ({exc})") from None
    if not isinstance(parsed, rrule):
        raise ValueError("give a single RRULE")
    if rule_fields(parsed)._interval < 1:
        raise ValueError("INTERVAL must be at least 1")
    return parsed
