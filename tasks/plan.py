"""Tasks that turn an agreement file into stored occurrences."""

from __future__ import annotations

import datetime as dt

from prefect import task
from prefect.cache_policies import NO_CACHE

from coop import planner
from coop.agreement.loader import LoadedAgreement, load_agreement
from coop.planning import PlannedOccurrence
from coop.store.plans import PlanResult
from tasks.report import explain_user_error


@task(name="读取并校验协议 load agreement", cache_policy=NO_CACHE, on_failure=[explain_user_error])
def load(path: str) -> LoadedAgreement:
    return load_agreement(path)


@task(name="展开任务 expand occurrences", cache_policy=NO_CACHE, on_failure=[explain_user_error])
def expand_occurrences(loaded: LoadedAgreement) -> list[PlannedOccurrence]:
    return planner.expand_checked(loaded)


@task(name="写入计划 upsert plan", cache_policy=NO_CACHE, on_failure=[explain_user_error])
def upsert_plan(
    loaded: LoadedAgreement,
    planned: list[PlannedOccurrence],
    today: dt.date,
    actor: str,
    database_url: str | None = None,
) -> PlanResult:
    """One transaction per agreement plan: a failure anywhere leaves the database as it was."""
    return planner.write(loaded, planned, today, actor, database_url)
