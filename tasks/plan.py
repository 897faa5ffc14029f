"""Tasks that turn an agreement file into stored occurrences (thin wrappers over `coop.services.planning`)."""

from __future__ import annotations

import datetime as dt

from prefect import task
from prefect.cache_policies import NO_CACHE

from coop.agreement.loader import LoadedAgreement
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
