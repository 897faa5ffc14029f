"""Plan one agreement (or every agreement in a folder) into dated occurrences."""

from __future__ import annotations

from typing import Annotated

from prefect import flow
from prefect.utilities.annotations import quote
from pydantic import Field

from coop.agreement.catalogue import agreement_choices
from coop.clock import today_in_shanghai
from coop.errors import PlansFailed
from coop.planning import PlanResult
from coop.services.planning import agreement_files
from coop.settings import get_settings
from flows.failure import explained
from flows.forms import Today, label
from tasks.database import check_schema
from tasks.plan import expand_occurrences, load, upsert_plan
from tasks.report import publish_plan_artifact, publish_plan_index, summarise_agreements

# The UI's form offers the shipped agreements as choices; the CLI and tests may still pass any path.
ShippedAgreement = Annotated[
    str,
    label("协议文件", "agreements/ 目录下随附的协议 YAML"),
    Field(json_schema_extra=agreement_choices()),
]
PlanDay = Annotated[Today, label("计划基准日", "默认今天（上海时区）；此前的任务作为历史保留")]


@flow(name="plan-agreement", log_prints=True)
@explained
def plan_agreement(
    agreement: ShippedAgreement = "agreements/yugang-social-work-2024.yaml",
    today: PlanDay = None,
    actor: Annotated[str, label("操作人", "记入台账（不填则为系统设置 COOP_ACTOR）", max_length=100)] = "",
) -> PlanResult:
    """Load → validate → expand → one-transaction upsert; re-planning an unchanged file writes nothing.

    Args:
        agreement: 协议文件（agreements/ 目录下随附的协议 YAML）
        today: 计划基准日（默认今天，上海时区）；此前的任务作为历史保留
        actor: 操作人，记入台账（不填则为系统设置 COOP_ACTOR）
    """
    settings = get_settings()
    url = settings.database_url
    day = today or today_in_shanghai()
    check_schema(url)
    loaded = load(agreement)
    planned = expand_occurrences(loaded, settings)
    result = upsert_plan(loaded, planned, day, actor.strip() or settings.actor, url, settings)
    publish_plan_artifact(loaded, planned, result, summarise_agreements(day, result.agreement_id, url))
    return result


@flow(name="plan-all-agreements", log_prints=True)
@explained
def plan_all_agreements(
    directory: Annotated[
        str, label("协议文件夹", "其中每个 .yaml 文件是一份协议", min_length=1, max_length=1000)
    ] = "agreements",
    today: PlanDay = None,
) -> list[PlanResult]:
    """Each agreement is its own subflow and transaction: one bad file does not block the others.

    Args:
        directory: 协议文件夹（其中每个 .yaml 文件是一份协议）
        today: 计划基准日（默认今天，上海时区）
    """
    day = today or today_in_shanghai()
    paths = agreement_files(directory)
    states = [plan_agreement(agreement=p, today=day, return_state=True) for p in paths]
    publish_plan_index(day, quote(list(zip(paths, states, strict=True))))
    failed = [s for s in states if not s.is_completed()]
    if failed:
        raise PlansFailed(len(failed), len(states))
    return [s.result() for s in states]


if __name__ == "__main__":
    # `make demo`: the real flow on Prefect's ephemeral server (nothing to start first); `coop demo` then shows it.
    plan_all_agreements()
