"""Plan one agreement (or every agreement in a folder) into dated occurrences."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

from prefect import flow
from pydantic import Field

from coop.clock import today_in_shanghai
from coop.errors import CoopError
from coop.settings import get_settings
from coop.store.plans import PlanResult
from tasks.database import migrate_database
from tasks.plan import expand_occurrences, load, upsert_plan
from tasks.report import publish_plan_artifact, summarise_agreements

AgreementPath = Annotated[str, Field(description="协议文件路径 (YAML)，如 agreements/yugang-social-work-2024.yaml")]
Today = Annotated[dt.date | None, Field(description="计划基准日（默认今天，上海时区）")]
DatabaseUrl = Annotated[str | None, Field(description="数据库地址（默认 COOP_DATABASE_URL）")]


@flow(name="plan-agreement", log_prints=True)
def plan_agreement(
    agreement: AgreementPath = "agreements/yugang-social-work-2024.yaml",
    today: Today = None,
    actor: Annotated[str | None, Field(description="操作人，记入台账")] = None,
    database_url: DatabaseUrl = None,
) -> PlanResult:
    """Load → validate → expand → one-transaction upsert; re-planning an unchanged file writes nothing."""
    day = today or today_in_shanghai()
    who = actor or get_settings().actor
    migrate_database(database_url)
    loaded = load(agreement)
    planned = expand_occurrences(loaded)
    result = upsert_plan(loaded, planned, day, who, database_url)
    summaries = summarise_agreements(day, result.agreement_id, database_url)
    publish_plan_artifact(result, summaries)
    return result


@flow(name="plan-all-agreements", log_prints=True)
def plan_all_agreements(
    directory: Annotated[str, Field(description="协议文件夹")] = "agreements",
    today: Today = None,
    database_url: DatabaseUrl = None,
) -> list[PlanResult]:
    """Each agreement is its own subflow and transaction: one bad file does not block the others."""
    states = [
        plan_agreement(agreement=str(p), today=today, database_url=database_url, return_state=True)
        for p in sorted(Path(directory).glob("*.yaml"))
    ]
    failed = [s for s in states if not s.is_completed()]
    if failed:
        raise CoopError(f"{len(failed)} of {len(states)} agreements failed to plan; see their runs' logs")
    return [s.result() for s in states]
