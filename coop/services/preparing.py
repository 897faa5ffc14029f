"""Everything planning a file needs before the database: read, validate, expand, and the calendar data its plan
depends on. Shared by `coop.services.planning` (one file, or a batch in a thread) and `coop.services.staging`
(a large batch in a helper process)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from sqlmodel import Session

from coop.agreement.loader import LoadedAgreement, load_agreement
from coop.calendar import WorkdayCalendar
from coop.errors import CoopError
from coop.planning import (
    PlannedOccurrence,
    PlanResult,
    calendar_fingerprint,
    check_unique_keys,
    expand,
    schedule_fingerprint,
)
from coop.seasons import RegionalSeasons, regional_seasons
from coop.settings import Settings
from coop.store.plans import PreparedPlan, plan_fingerprint, prepare_plan


@dataclass(frozen=True)
class FileOutcome:
    """One file of `plan_files`: its result, or the user error that stopped it (the others go on)."""

    path: str
    result: PlanResult | None = None
    error: CoopError | None = None
    occurrences: int = 0
    prepare_seconds: float = 0.0  # in the helper thread, overlapping the previous file's write
    write_seconds: float = 0.0


@lru_cache(maxsize=4)
def calendar_for(overrides: Path | None) -> WorkdayCalendar:
    """One calendar per overrides file and process: its year tables are costly to build."""
    return WorkdayCalendar(overrides)


def load(path: str | Path) -> LoadedAgreement:
    """Read and validate one agreement file; an invalid file raises `AgreementError` listing every file:line."""
    return load_agreement(path)


def expand_checked(
    loaded: LoadedAgreement, settings: Settings, calendar: WorkdayCalendar | None = None
) -> list[PlannedOccurrence]:
    """Every dated occurrence the agreement yields over its term, refusing absurd or colliding recurrences.

    `calendar` None: the process's calendar for `settings.calendar_overrides` (`refresh-calendar` reads it afresh)."""
    planned = expand(
        loaded,
        calendar or calendar_for(settings.calendar_overrides),
        settings.max_occurrences_per_clause,
        _seasons(settings),
    )
    check_unique_keys(planned, loaded)
    return planned


def _seasons(settings: Settings) -> RegionalSeasons:
    """The national season table and the regional ones, as configured (cached per process)."""
    return regional_seasons(settings.seasons_file, settings.seasons_dir)


def calendar_version(loaded: LoadedAgreement, settings: Settings, calendar: WorkdayCalendar | None = None) -> str:
    """The calendar data an agreement's plan depends on, as stored with the plan (`agreement.calendar_version`)."""
    workdays = calendar or calendar_for(settings.calendar_overrides)
    return calendar_fingerprint(workdays) + schedule_fingerprint(loaded, _seasons(settings))


def prepare(path: str | Path, settings: Settings) -> tuple[LoadedAgreement, list[PlannedOccurrence]]:
    """Load, validate and expand one file: everything before the database."""
    loaded = load(path)
    return loaded, expand_checked(loaded, settings)


def batch_calendar(settings: Settings) -> str:
    """The calendar's fingerprint a batch stores with each plan (the regional schedule is added per file)."""
    return calendar_fingerprint(calendar_for(settings.calendar_overrides))


def schedule_version(loaded: LoadedAgreement, settings: Settings, calendar: str) -> str:
    """`calendar_version` given the batch's calendar fingerprint (`batch_calendar`), computed once per batch."""
    return calendar + schedule_fingerprint(loaded, _seasons(settings))


Prepared = tuple[LoadedAgreement, list[PlannedOccurrence], str, PreparedPlan | None, float]
"""A file of a batch read and expanded: (loaded, planned, calendar version, digests, seconds it took)."""


def prepare_in_batch(path: str | Path, settings: Settings, calendar: str, stored: dict[str, str]) -> Prepared:
    """Everything a batch does for one file before the database, the plan event's digests included.

    `stored`: fingerprints as the batch began; a file that will not change needs no digests (None). A stale guess
    only costs time: the writer decides."""
    started = time.perf_counter()
    loaded, planned = prepare(path, settings)
    version = schedule_version(loaded, settings, calendar)
    before = stored.get(loaded.agreement.id)
    digests = None if before == plan_fingerprint(loaded, version) else prepare_plan(planned)
    return loaded, planned, version, digests, time.perf_counter() - started


def write_in_savepoint(
    session: Session, path: str, occurrences: int, prepare_seconds: float, write: Callable[[], PlanResult]
) -> FileOutcome:
    """One file of a batch written in its own savepoint: its outcome, or the user error that rolled it back (the
    group's other files go on)."""
    started = time.perf_counter()
    try:
        with session.begin_nested():
            result = write()
    except CoopError as exc:
        return FileOutcome(path, error=exc, occurrences=occurrences, prepare_seconds=prepare_seconds)
    return FileOutcome(path, result, None, occurrences, prepare_seconds, time.perf_counter() - started)
