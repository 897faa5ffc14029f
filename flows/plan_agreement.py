"""Plan one agreement (or every agreement in a folder) into dated occurrences."""

from __future__ import annotations

from typing import Annotated

from prefect import flow
from prefect.utilities.annotations import quote
from pydantic import Field

from coop.agreement.catalogue import agreement_choices
from coop.artifacts import PlanRun
from coop.clock import today_in_shanghai
from coop.errors import PlansFailed
from coop.planning import PlanResult
from coop.services.planning import agreement_files
from coop.settings import get_settings
from flows.failure import explained
from flows.forms import Today, label
from tasks.database import check_schema
from tasks.plan import expand_occurrences, load, plan_batch, upsert_plan
from tasks.report import publish_plan_artifact, publish_plan_index, summarise_agreements

# The UI's form offers the shipped agreements as choices; the CLI and tests may still pass any path.
ShippedAgreement = Annotated[
    str,
    label("协议文件", "agreements/ 目录下随附的协议 YAML"),
    Field(json_schema_extra=agreement_choices()),
]
PlanDay = Annotated[Today, label("计划基准日", "默认今天（上海时区）；此前的任务作为历史保留")]
# Files per task of plan-all-agreements: ~250,000 occurrences, so a province's 200 agreements show as a few steps.
BATCH_FILES = 50


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
    actor: Annotated[str, label("操作人", "记入台账（不填则为系统设置 COOP_ACTOR）", max_length=100)] = "",
) -> list[PlanResult]:
    """Every agreement in a folder through the bulk planner, in batches of files: each agreement is still its own
    transaction (one bad file does not block the others), and one summary lists every outcome and error.

    Args:
        directory: 协议文件夹（其中每个 .yaml 文件是一份协议）
        today: 计划基准日（默认今天，上海时区）
        actor: 操作人，记入台账（不填则为系统设置 COOP_ACTOR）
    """
    settings = get_settings()
    url = settings.database_url
    day = today or today_in_shanghai()
    check_schema(url)
    paths = agreement_files(directory)
    runs: list[PlanRun] = []
    for start in range(0, len(paths), BATCH_FILES):
        runs += plan_batch(paths[start : start + BATCH_FILES], day, actor.strip() or settings.actor, url, settings)
    publish_plan_index(day, quote(runs))  # quoted: Prefect would walk every PlanChange of every result for futures
    failed = [r for r in runs if r.result is None]
    if failed:
        raise PlansFailed(len(failed), len(runs))
    return [r.result for r in runs if r.result is not None]


if __name__ == "__main__":
    # `make demo`: the real flow on Prefect's ephemeral server (nothing to start first); `coop demo` then shows it.
    plan_all_agreements()
