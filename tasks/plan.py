"""Tasks that turn an agreement file into stored occurrences (thin wrappers over `coop.services.planning`)."""

from __future__ import annotations

import datetime as dt

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from coop.agreement.loader import LoadedAgreement
from coop.artifacts import PlanRun, user_error_text
from coop.planning import PlannedOccurrence, PlanResult
from coop.services import planning
from coop.settings import Settings
from tasks.report import explain_user_error


@task(name="读取并校验协议 load agreement", cache_policy=NO_CACHE, on_failure=[explain_user_error])
def load(path: str) -> LoadedAgreement:
    return planning.load(path)


@task(name="展开任务 expand occurrences", cache_policy=NO_CACHE, on_failure=[explain_user_error])
def expand_occurrences(loaded: LoadedAgreement, settings: Settings) -> list[PlannedOccurrence]:
    return planning.expand_checked(loaded, settings)


@task(name="写入计划 upsert plan", cache_policy=NO_CACHE, on_failure=[explain_user_error])
def upsert_plan(
    loaded: LoadedAgreement,
    planned: list[PlannedOccurrence],
    today: dt.date,
    actor: str,
    database_url: str,
    settings: Settings,
) -> PlanResult:
    """One transaction per agreement plan: a failure anywhere leaves the database as it was."""
    return planning.write(database_url, loaded, planned, today, actor, settings=settings)


@task(name="批量写入计划 plan a batch of agreements", cache_policy=NO_CACHE)
def plan_batch(paths: list[str], today: dt.date, actor: str, database_url: str, settings: Settings) -> list[PlanRun]:
    """The bulk planner over some files: one transaction per agreement; a bad file is reported, not raised."""
    logger = get_run_logger()
    runs = []
    for outcome in planning.plan_files(database_url, paths, today, actor, settings=settings):
        if outcome.error is not None:
            logger.error("%s：%s", outcome.path, user_error_text(outcome.error))
        runs.append(
            PlanRun(outcome.path, None, outcome.result, None if outcome.error is None else str(outcome.error), False)
        )
    return runs
