"""Plan agreements: load, validate and expand a file, then write its plan — one transaction per agreement.

`plan_agreement` plans one file (the web form and, step by step, the `plan-agreement` flow). `plan_files` plans
many in a row: the next files are read and expanded while the current ones are written. Reading and expanding is
Python work; writing waits mostly on the database (the sqlite3 and psycopg drivers release the GIL there), so one
helper thread keeps both busy. Agreements are written in groups of about `GROUP_ROWS` occurrences per commit, each
inside its own savepoint: a plan is still all or nothing per agreement (a file that fails rolls back to its
savepoint and does not stop the others), but the database pays one commit per group instead of one per agreement —
on SQLite each commit rewrites every index page it touched, which cost more than the rows themselves. An outcome is
reported only once its group has committed, so what the caller is told has happened is durable.
"""

from __future__ import annotations

import datetime as dt
import gc
import time
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path

from coop.agreement.loader import LoadedAgreement
from coop.agreement.organisations import REGISTRY_FILE
from coop.errors import CoopError
from coop.planning import PlannedOccurrence, PlanResult
from coop.services.preparing import (
    FileOutcome,
    Prepared,
    batch_calendar,
    calendar_version,
    expand_checked,
    load,
    prepare,
    prepare_in_batch,
    write_in_savepoint,
)
from coop.services.staging import plan_staged
from coop.settings import Settings
from coop.store.plans import (
    apply_plan,
    stored_fingerprints,
    stored_paths,
)
from models.db import session_scope

__all__ = [  # the use cases, and what their callers import from here
    "FileOutcome",
    "PlannedAgreement",
    "agreement_files",
    "calendar_version",
    "expand_checked",
    "load",
    "plan_agreement",
    "plan_files",
    "prepare",
    "write",
]

LOOKAHEAD = 2  # files prepared ahead of the writer; bounds memory to a few agreements' occurrences
GROUP_ROWS = 100_000  # occurrences per commit; also bounds how long other writers wait for the database


@dataclass(frozen=True)
class PlannedAgreement:
    """One planned file: what was read, what it yields, and what the plan changed."""

    loaded: LoadedAgreement
    planned: list[PlannedOccurrence]
    result: PlanResult


def agreement_files(directory: str | Path) -> list[str]:
    """Every agreement file (`*.yaml`) in `directory`, sorted: the order batch plans run and report in.

    The organisation registry (organisations.yaml) beside them is not an agreement."""
    return [str(p) for p in sorted(Path(directory).glob("*.yaml")) if p.name != REGISTRY_FILE]


def write(
    database_url: str,
    loaded: LoadedAgreement,
    planned: list[PlannedOccurrence],
    today: dt.date,
    actor: str,
    *,
    settings: Settings,
) -> PlanResult:
    """Store one agreement's plan in one transaction: a failure anywhere leaves the database as it was."""
    fingerprint = calendar_version(loaded, settings)
    with session_scope(database_url) as session:
        return apply_plan(
            session, loaded, planned, today, actor, fingerprint, notify_horizon_days=settings.notify_horizon_days
        )


def plan_agreement(
    database_url: str, path: str | Path, today: dt.date, actor: str, *, settings: Settings
) -> PlannedAgreement:
    """Plan (or re-plan) one agreement file; re-planning an unchanged file writes nothing."""
    loaded, planned = prepare(path, settings)
    return PlannedAgreement(loaded, planned, write(database_url, loaded, planned, today, actor, settings=settings))


def plan_files(
    database_url: str,
    paths: Iterable[str | Path],
    today: dt.date,
    actor: str,
    *,
    settings: Settings,
    group_rows: int = GROUP_ROWS,
) -> Iterator[FileOutcome]:
    """Plan many files, outcomes in the order of `paths`; a bad file or refused plan is reported, not raised."""
    with _collect_between_groups():
        yield from _plan_files(database_url, paths, today, actor, settings, group_rows)


@contextmanager
def _collect_between_groups() -> Iterator[None]:
    """No automatic cyclic collection while the batch runs: `_plan_files` collects once after each commit group
    (the process's own setting back after, even on error).

    A batch allocates millions of objects, next to none of them in cycles (occurrences, their fields, parameter
    rows), and most live through their agreement's write, so every automatic pass rescanned them: at Python's
    default threshold (700) the collector took ~25 % of the batch's CPU, at 20,000 still ~6 % (bench/, 200k rows).
    A young pass after each group (~100,000 rows) frees the cycles made since the one before (~12,000 objects per
    100,000 rows) and scans each object that outlives it once, instead of again at every automatic pass; a full
    pass would rescan all that the batch keeps, such as the calendar's tables (~0.1 s each). A cycle that reaches
    older objects waits for the process's collector, back when the batch ends. What the process held before the
    batch is set aside (`gc.freeze`) until then."""
    enabled = gc.isenabled()
    gc.disable()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
        if enabled:
            gc.enable()


def _new_files(files: list[str], planned_paths: set[str]) -> int:
    """How many of `files` no agreement was planned from yet: first plans, which the helper process is for (its
    start-up costs more than it saves on a re-plan, whose rows are not written again)."""
    planned = {str(Path(p).resolve()) for p in planned_paths}
    return sum(1 for f in files if str(Path(f).resolve()) not in planned)


def _plan_files(
    database_url: str,
    paths: Iterable[str | Path],
    today: dt.date,
    actor: str,
    settings: Settings,
    group_rows: int,
) -> Iterator[FileOutcome]:
    pending: deque[tuple[str, Future[Prepared]]] = deque()
    # `coop plan agreements/*.yaml` names the registry too
    files = [str(p) for p in paths if Path(p).name != REGISTRY_FILE]
    least = settings.plan_process_min_files
    with session_scope(database_url) as session:
        stored = stored_fingerprints(session)
        # The helper's paths are only looked up for a batch that could reach its threshold.
        helper = len(files) >= least > 0 and _new_files(files, stored_paths(session)) >= least
    if helper:
        yield from plan_staged(database_url, files, today, actor, settings, group_rows, stored)
        return
    todo = iter(files)
    fingerprint = batch_calendar(settings)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="coop-prepare") as pool:

        def ahead() -> None:
            while len(pending) <= LOOKAHEAD and (path := next(todo, None)) is not None:
                pending.append((str(path), pool.submit(prepare_in_batch, path, settings, fingerprint, stored)))

        ahead()
        while pending:
            group: list[FileOutcome] = []
            rows = 0
            with session_scope(database_url) as session:
                while pending and rows < group_rows:
                    path, future = pending.popleft()
                    ahead()
                    try:
                        loaded, planned, version, digests, prepared = future.result()
                    except CoopError as exc:
                        group.append(FileOutcome(path, error=exc))
                        continue
                    write = partial(
                        apply_plan,
                        session,
                        loaded,
                        planned,
                        today,
                        actor,
                        version,
                        notify_horizon_days=settings.notify_horizon_days,
                        prepared=digests,
                    )
                    outcome = write_in_savepoint(session, path, len(planned), prepared, write)
                    group.append(outcome)
                    rows += 0 if outcome.result is None or outcome.result.unchanged else len(planned)
                    del loaded, planned, digests, write
                started = time.perf_counter()
            if group:  # the commit is part of writing the group; charge it to its last file
                group[-1] = replace(group[-1], write_seconds=group[-1].write_seconds + time.perf_counter() - started)
            yield from group
            # This group's cycles (automatic collection is off: `_collect_between_groups`), once its outcomes live on
            # only where the caller keeps them: the pass scans what is alive, fewer objects than before the yield.
            del group
            gc.collect(0)
