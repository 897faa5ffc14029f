"""Plan many files with a helper process: it reads, expands and stages; this process only writes.

`plan_files` hands a batch here when at least `Settings.plan_process_min_files` of its files were never planned (a
re-plan writes no rows again: the thread is enough). The helper (`HELPER`, run with `python -c`: its own
interpreter, so expanding and writing no longer share one interpreter lock) takes the files in groups and, per
file, does everything that needs no database: load, validate, expand, the plan event's digests, and for a new
agreement its rows in stored form (`coop.store.staging`: a staging SQLite file per group, or COPY text for
PostgreSQL) with their statuses, sweep events and new-task notices by row index. This process writes each group in
one transaction, each file in its own savepoint, as `plan_files` does in its thread; a re-plan goes through
`apply_plan` with the planned rows the helper sent. The helper runs ahead by at most `AHEAD` groups.

While the helper is behind (starting up, or slower than the writer), this process plans files itself, from the end
of the batch; their outcomes are told last, so every outcome still comes in the order of the paths. If the helper
fails or dies, this process plans the rest itself: nothing a user asked for is lost to it.

Between the processes: length-prefixed pickles over the helper's stdin and stdout. A request is a list of paths;
an answer a `StagedGroup`. Not multiprocessing's spawn, which would import the caller's main module again (a
Prefect flow run's is Prefect's engine, seconds of imports).
"""

from __future__ import annotations

import datetime as dt
import gc
import logging
import pickle
import select
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import IO

from sqlmodel import Session

from coop.agreement.loader import LoadedAgreement
from coop.errors import CoopError
from coop.planning import PlanChange, PlanDiff, PlannedOccurrence, PlanResult
from coop.services import preparing
from coop.settings import Settings
from coop.store.plans import (
    PreparedPlan,
    apply_first_plan,
    apply_plan,
    keep_if_unchanged,
)
from coop.store.staging import Stage, StagedRows, attached_session, staged_insert

# The helper's program: this module imported by name (as `__main__` its classes would not unpickle here).
HELPER = "import sys; from coop.services.staging import serve; serve(sys.stdin.buffer.raw, sys.stdout.buffer)"
log = logging.getLogger(__name__)
AHEAD = 2  # groups asked of the helper beyond the one being written
FIRST_GROUP_FILES = 1  # the writer starts as soon as one file is staged; later groups are sized by rows


@dataclass(frozen=True)
class StageJob:
    """What the helper needs for every group, sent once when it starts."""

    settings: Settings
    calendar: str  # the calendar's fingerprint, as `plan_files` stores it
    stored: dict[str, str]  # agreement id → stored plan fingerprint as the batch began: new files are staged
    dialect: str
    directory: str  # where the helper writes each group's staging file (SQLite)
    today: dt.date  # the day statuses are written as of


@dataclass(frozen=True)
class StagedFile:
    """One file as the helper left it: an error, a staged first plan (`rows`), the planned rows of a re-plan
    (`planned`), or neither (the file was unchanged as the batch began: only its count)."""

    path: str
    loaded: LoadedAgreement | None = None
    version: str = ""  # calendar version (calendar + regional schedule)
    prepared: PreparedPlan | None = None
    rows: StagedRows | None = None
    planned: list[PlannedOccurrence] | None = None
    count: int = 0
    error: CoopError | None = None
    seconds: float = 0.0


@dataclass(frozen=True)
class StagedGroup:
    files: list[StagedFile] = field(default_factory=list)
    stage_file: str | None = None  # SQLite: the group's staging file, attached while the group is written
    failure: str | None = None  # the helper's traceback, when a bug stopped it


def plan_staged(
    database_url: str,
    paths: list[str],
    today: dt.date,
    actor: str,
    settings: Settings,
    group_rows: int,
    stored: dict[str, str],
) -> Iterator[preparing.FileOutcome]:
    """`plan_files` for a large batch: outcomes in the order of `paths`, each group's once it has committed."""
    directory = tempfile.mkdtemp(prefix="coop-stage-")
    dialect = "sqlite" if database_url.startswith("sqlite") else "postgresql"
    calendar = preparing.batch_calendar(settings)
    job = StageJob(settings, calendar, stored, dialect, directory, today)
    helper = subprocess.Popen([sys.executable, "-c", HELPER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0)
    assert helper.stdin is not None and helper.stdout is not None
    requests, answers = helper.stdin, helper.stdout
    stolen: list[preparing.FileOutcome] = []  # files this process planned itself, from the end of the batch
    todo = deque(paths)
    asked: deque[list[str]] = deque()  # groups asked of the helper and not yet answered
    size, files_seen, rows_seen = FIRST_GROUP_FILES, 0, 0

    def ask() -> None:
        while todo and len(asked) <= AHEAD:
            chunk = [todo.popleft() for _ in range(min(size, len(todo)))]
            asked.append(chunk)
            _send(requests, chunk)

    def here(path: str) -> list[preparing.FileOutcome]:
        return _write_group(database_url, _prepared_here(path, job), today, actor, settings)

    lost = False  # the helper failed or died: what it was asked and did not answer is planned here

    def lose(why: str) -> None:
        nonlocal lost
        lost = True
        log.warning(
            "计划的辅助进程出错，其余文件改在本进程中计划 (the planner's helper process failed; the rest is planned "
            "here): %s",
            why,
        )

    try:
        try:
            _send(requests, job)
            ask()
        except OSError as exc:  # the helper could not start or died at once
            lose(str(exc))
        while asked and not lost:
            if todo and not _ready(answers):
                # The helper is behind (starting up, or slower than the writer): plan the batch's last file not yet
                # asked of it here, as `plan_files` would in its thread; its outcome is told after all the others.
                stolen.extend(here(todo.pop()))
                continue
            try:
                group = _receive(answers)
            except RuntimeError as exc:
                lose(str(exc))
                break
            if group.failure is not None:
                lose(group.failure)
                break
            asked.popleft()
            files_seen += len(group.files)
            rows_seen += sum(f.count for f in group.files)
            # Later groups of about `group_rows` rows: one commit each, as `plan_files` groups them.
            size = max(1, min(256, round(group_rows * files_seen / max(rows_seen, 1))))
            try:
                ask()
            except OSError as exc:  # the answer came, but the helper is gone now: the next ones come from here
                lose(str(exc))
            outcomes = _write_group(database_url, group, today, actor, settings)
            yield from outcomes
            del group, outcomes
            gc.collect(0)  # this group's cycles: `plan_files` turns automatic collection off for the batch
        # What the helper did not answer (it failed, or stopped), then what nobody was asked for yet, planned here.
        for path in [p for chunk in asked for p in chunk] + list(todo):
            yield from here(path)
        yield from reversed(stolen)
    finally:
        requests.close()
        # Every answer is in (or the batch stopped): nothing the helper still does is wanted, and its interpreter's
        # own shutdown took ~0.15 s of the batch's wall time. Its staging files go with `directory`.
        helper.kill()
        helper.wait()
        answers.close()
        shutil.rmtree(directory, ignore_errors=True)


def _prepared_here(path: str, job: StageJob) -> StagedGroup:
    """One file read and expanded in this process, as `plan_files` does in its thread (planned by `apply_plan`)."""
    try:
        loaded, planned, version, digests, seconds = preparing.prepare_in_batch(
            path, job.settings, job.calendar, job.stored
        )
    except CoopError as exc:
        return StagedGroup([StagedFile(path, error=exc)])
    return StagedGroup(
        [StagedFile(path, loaded, version, digests, planned=planned, count=len(planned), seconds=seconds)]
    )


def _write_group(
    database_url: str, group: StagedGroup, today: dt.date, actor: str, settings: Settings
) -> list[preparing.FileOutcome]:
    outcomes: list[preparing.FileOutcome] = []
    stage_file = Path(group.stage_file) if group.stage_file else None
    with attached_session(database_url, stage_file) as session:
        for f in group.files:
            if f.error is not None or f.loaded is None:
                outcomes.append(preparing.FileOutcome(f.path, error=f.error))
                continue
            write = partial(_write_file, session, f, today, actor, settings)
            outcomes.append(preparing.write_in_savepoint(session, f.path, f.count, f.seconds, write))
    if stage_file is not None:
        stage_file.unlink(missing_ok=True)
    return outcomes


def _write_file(session: Session, f: StagedFile, today: dt.date, actor: str, settings: Settings) -> PlanResult:
    """One file in its savepoint. A guess the helper made from the batch's start that no longer holds (someone
    planned the agreement meanwhile) writes nothing and the file is planned the usual way, read again here."""
    assert f.loaded is not None
    horizon = settings.notify_horizon_days
    result: PlanResult | None = None
    if f.rows is not None and f.prepared is not None:
        changes = partial(_first_plan_changes, f.loaded, settings)
        result = apply_first_plan(
            session,
            f.loaded,
            f.version,
            f.count,
            f.prepared,
            staged_insert(f.rows),
            changes,
            today,
            actor,
            notify_horizon_days=horizon,
        )
    elif f.planned is None:
        result = keep_if_unchanged(session, f.loaded, f.version, f.count, today, actor)
    if result is not None:
        return result
    loaded, planned = (f.loaded, f.planned) if f.planned is not None else preparing.prepare(f.path, settings)
    version = f.version if f.planned is not None else preparing.calendar_version(loaded, settings)
    return apply_plan(session, loaded, planned, today, actor, version, notify_horizon_days=horizon, prepared=f.prepared)


def _first_plan_changes(loaded: LoadedAgreement, settings: Settings) -> list[PlanChange]:
    """A staged first plan's change list, built only when someone reads it: every row it added, expanded again
    here (the rows themselves never came to this process)."""
    return PlanDiff(create=preparing.expand_checked(loaded, settings)).changes(())


def _send(stream: IO[bytes], value: object) -> None:
    """One message: its length, then its pickle (the reader then knows when a whole message is there)."""
    data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(len(data).to_bytes(8, "little") + data)
    stream.flush()


def _ready(stream: IO[bytes]) -> bool:
    """Whether the helper has begun an answer (unbuffered: nothing read is held back from `select`)."""
    return bool(select.select([stream], [], [], 0)[0])


def _read(stream: IO[bytes]) -> object:
    size = int.from_bytes(_exactly(stream, 8), "little")
    return pickle.loads(_exactly(stream, size))


def _exactly(stream: IO[bytes], size: int) -> bytes:
    chunks = bytearray()
    while len(chunks) < size:
        chunk = stream.read(size - len(chunks))
        if not chunk:
            raise EOFError
        chunks += chunk
    return bytes(chunks)


def _receive(stream: IO[bytes]) -> StagedGroup:
    try:
        group = _read(stream)
    except EOFError:
        raise RuntimeError("计划的辅助进程意外退出 (the planner's helper process exited unexpectedly)") from None
    assert isinstance(group, StagedGroup)
    return group


# The helper process.


def stage_group(paths: list[str], job: StageJob, number: int) -> StagedGroup:
    """Read, expand and (new agreements) stage every file of one group, in order; a bad file is reported."""
    settings = job.settings
    stage_path = Path(job.directory) / f"g{number}.db" if job.dialect == "sqlite" else None
    stage = Stage(job.dialect, stage_path)
    files: list[StagedFile] = []
    try:
        for path in paths:
            files.append(_stage_file(stage, path, job, settings))
    finally:
        stage.close()
    staged = stage_path is not None and stage.tables > 0
    return StagedGroup(files, str(stage_path) if staged else None)


def _stage_file(stage: Stage, path: str, job: StageJob, settings: Settings) -> StagedFile:
    """One file of a group: read and expanded as `plan_files` does it; a new agreement's first plan also staged."""
    started = time.perf_counter()
    try:
        loaded, planned, version, digests, _ = preparing.prepare_in_batch(path, settings, job.calendar, job.stored)
    except CoopError as exc:
        return StagedFile(path, error=_portable(exc), seconds=time.perf_counter() - started)
    agreement, count = loaded.agreement, len(planned)
    if agreement.id not in job.stored:  # new as the batch began: its first plan is staged
        rows = stage.add(agreement.id, planned, agreement.tracking_from, job.today, settings.notify_horizon_days)
        return StagedFile(path, loaded, version, digests, rows=rows, count=count, seconds=time.perf_counter() - started)
    if digests is None:  # unchanged as the batch began: the writer needs only the count
        return StagedFile(path, loaded, version, count=count, seconds=time.perf_counter() - started)
    return StagedFile(
        path, loaded, version, digests, planned=planned, count=count, seconds=time.perf_counter() - started
    )


def _portable(exc: CoopError) -> CoopError:
    """The error itself when it survives pickling as it is, else its message."""
    try:
        back = pickle.loads(pickle.dumps(exc))
    except Exception:
        return CoopError(str(exc))
    return exc if str(back) == str(exc) and type(back) is type(exc) else CoopError(str(exc))


def serve(requests: IO[bytes], answers: IO[bytes]) -> None:
    """The helper's loop: the job, then one answer per request, until the writer closes the requests."""
    try:
        job = _read(requests)
    except EOFError:
        return
    assert isinstance(job, StageJob)
    number = 0
    while True:
        try:
            paths = _read(requests)
        except EOFError:
            return
        assert isinstance(paths, list)
        try:
            group = stage_group(paths, job, number)
        except Exception:
            group = StagedGroup(failure=traceback.format_exc())
        number += 1
        _send(answers, group)
