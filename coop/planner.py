"""Plan many agreement files in a row: the next files are read and expanded while the current ones are written.

Reading and expanding is Python work; writing waits mostly on the database (the sqlite3 and psycopg
drivers release the GIL there), so one helper thread keeps both busy. Agreements are written in groups
of about `GROUP_ROWS` occurrences per commit, each inside its own savepoint: a plan is still all or
nothing per agreement (a file that fails rolls back to its savepoint and does not stop the others), but
the database pays one commit per group instead of one per agreement — on SQLite each commit rewrites
every index page it touched, which cost more than the rows themselves. An outcome is reported only once
its group has committed, so what the caller is told has happened is durable.
"""

from __future__ import annotations

import datetime as dt
import time
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

from coop.agreement.loader import LoadedAgreement, load_agreement
from coop.calendar import default_calendar
from coop.errors import CoopError
from coop.planning import PlannedOccurrence, calendar_fingerprint, check_unique_keys, expand
from coop.settings import get_settings
from coop.store.plans import PlanResult, apply_plan
from models.db import session_scope

LOOKAHEAD = 2  # files prepared ahead of the writer; bounds memory to a few agreements' occurrences
GROUP_ROWS = 100_000  # occurrences per commit; also bounds how long other writers wait for the database


@dataclass(frozen=True)
class FileOutcome:
    path: str
    result: PlanResult | None = None
    error: CoopError | None = None
    occurrences: int = 0
    prepare_seconds: float = 0.0  # in the helper thread, overlapping the previous file's write
    write_seconds: float = 0.0


def expand_checked(loaded: LoadedAgreement) -> list[PlannedOccurrence]:
    planned = expand(loaded, default_calendar(), get_settings().max_occurrences_per_clause)
    check_unique_keys(planned, loaded)
    return planned


def prepare(path: str | Path) -> tuple[LoadedAgreement, list[PlannedOccurrence]]:
    """Load, validate and expand one file: everything before the database."""
    loaded = load_agreement(path)
    return loaded, expand_checked(loaded)


def _timed_prepare(path: str | Path) -> tuple[LoadedAgreement, list[PlannedOccurrence], float]:
    started = time.perf_counter()
    loaded, planned = prepare(path)
    return loaded, planned, time.perf_counter() - started


def write(
    loaded: LoadedAgreement,
    planned: list[PlannedOccurrence],
    today: dt.date,
    actor: str,
    database_url: str | None = None,
) -> PlanResult:
    """One transaction per agreement plan: a failure anywhere leaves the database as it was."""
    with session_scope(database_url) as session:
        return apply_plan(session, loaded, planned, today, actor, calendar_fingerprint(default_calendar()))


def plan_files(
    paths: Iterable[str | Path],
    today: dt.date,
    actor: str,
    database_url: str | None = None,
    group_rows: int = GROUP_ROWS,
) -> Iterator[FileOutcome]:
    """Outcomes in the order of `paths`; user errors (bad file, plan the database refuses) are reported, not raised."""
    pending: deque[tuple[str, Future[tuple[LoadedAgreement, list[PlannedOccurrence], float]]]] = deque()
    todo = iter(paths)
    fingerprint = calendar_fingerprint(default_calendar())
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="coop-prepare") as pool:

        def ahead() -> None:
            while len(pending) <= LOOKAHEAD and (path := next(todo, None)) is not None:
                pending.append((str(path), pool.submit(_timed_prepare, path)))

        ahead()
        while pending:
            group: list[FileOutcome] = []
            rows = 0
            with session_scope(database_url) as session:
                while pending and rows < group_rows:
                    path, future = pending.popleft()
                    ahead()
                    try:
                        loaded, planned, prepared = future.result()
                    except CoopError as exc:
                        group.append(FileOutcome(path, error=exc))
                        continue
                    started = time.perf_counter()
                    try:
                        with session.begin_nested():
                            result = apply_plan(session, loaded, planned, today, actor, fingerprint)
                    except CoopError as exc:
                        group.append(FileOutcome(path, error=exc, occurrences=len(planned), prepare_seconds=prepared))
                        continue
                    rows += 0 if result.unchanged else len(planned)
                    group.append(FileOutcome(path, result, None, len(planned), prepared, time.perf_counter() - started))
                    del loaded, planned
                started = time.perf_counter()
            if group:  # the commit is part of writing the group; charge it to its last file
                group[-1] = replace(group[-1], write_seconds=group[-1].write_seconds + time.perf_counter() - started)
            yield from group
