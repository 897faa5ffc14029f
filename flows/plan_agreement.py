"""Plan one agreement (or every agreement in a folder) into dated occurrences."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

from prefect import flow
from prefect.utilities.annotations import quote
from pydantic import Field

from coop.agreement.catalogue import agreement_choices
from coop.clock import today_in_shanghai
from coop.errors import CoopError
from coop.settings import get_settings
from coop.store.plans import PlanResult
from tasks.database import migrate_database
from tasks.plan import expand_occurrences, load, upsert_plan
from tasks.report import publish_plan_artifact, publish_plan_index, summarise_agreements

# The UI's form offers the shipped agreements as choices; the CLI and tests may still pass any path.
# (Prefect takes parameter descriptions from the docstrings' Args sections, not from Field(description=...).)
ShippedAgreement = Annotated[str, Field(json_schema_extra=agreement_choices())]


@flow(name="plan-agreement", log_prints=True)
def plan_agreement(
    agreement: ShippedAgreement = "agreements/yugang-social-work-2024.yaml",
    today: dt.date | None = None,
    actor: str | None = None,
    database_url: str | None = None,
) -> PlanResult:
    """Load → validate → expand → one-transaction upsert; re-planning an unchanged file writes nothing.

    Args:
        agreement: 协议文件（agreements/ 目录下随附的协议 YAML）
        today: 计划基准日（默认今天，上海时区）；此前的任务作为历史保留
        actor: 操作人，记入台账（默认 COOP_ACTOR）
        database_url: 数据库地址（默认 COOP_DATABASE_URL）
    """
    day = today or today_in_shanghai()
    who = actor or get_settings().actor
    migrate_database(database_url)
    loaded = load(agreement)
    planned = expand_occurrences(loaded)
    result = upsert_plan(loaded, planned, day, who, database_url)
    summaries = summarise_agreements(day, result.agreement_id, database_url)
    publish_plan_artifact(loaded, planned, result, summaries)
    return result


@flow(name="plan-all-agreements", log_prints=True)
def plan_all_agreements(
    directory: str = "agreements",
    today: dt.date | None = None,
    database_url: str | None = None,
) -> list[PlanResult]:
    """Each agreement is its own subflow and transaction: one bad file does not block the others.

    Args:
        directory: 协议文件夹（其中每个 .yaml 文件是一份协议）
        today: 计划基准日（默认今天，上海时区）
        database_url: 数据库地址（默认 COOP_DATABASE_URL）
    """
    day = today or today_in_shanghai()
    paths = [str(p) for p in sorted(Path(directory).glob("*.yaml"))]
    states = [plan_agreement(agreement=p, today=day, database_url=database_url, return_state=True) for p in paths]
    publish_plan_index(day, quote(list(zip(paths, states, strict=True))))
    failed = [s for s in states if not s.is_completed()]
    if failed:
        raise CoopError(
            f"{len(failed)} 份协议计划失败（共 {len(states)} 份），详见各自运行的日志 (agreements failed to plan)"
        )
    return [s.result() for s in states]
