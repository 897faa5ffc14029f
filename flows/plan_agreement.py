"""Plan one agreement (or every agreement in a folder) into dated occurrences."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Annotated, overload

from prefect import flow
from prefect.context import SyncClientContext
from prefect.settings import get_current_settings
from prefect.utilities.annotations import quote
from pydantic import Field

from coop.agreement.catalogue import agreement_choices
from coop.artifacts import PlanRun
from coop.clock import today_in_shanghai
from coop.errors import PlansFailed
from coop.planning import PlanResult
from coop.services.planning import agreement_files
from coop.settings import get_settings
from flows.failure import explained, explained_async
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


class PlanResults(Sequence[PlanResult]):
    """plan-all-agreements' return value: each plan's result, in file order.

    A sequence Prefect does not look inside: Prefect searches a flow's return value for futures field by field
    (`prefect.futures.resolve_futures_to_states`), and in a list of `PlanResult` that is every `PlanChange` of every
    first plan, built just for that search (the planner builds a change list only when it is read): ~0.2 s of CPU at
    10k rows, as much as the planning itself. This flow returns no futures: its tasks' results are plain values."""

    __slots__ = ("_results",)

    def __init__(self, results: Iterable[PlanResult]) -> None:
        self._results = list(results)

    @overload
    def __getitem__(self, index: int) -> PlanResult: ...
    @overload
    def __getitem__(self, index: slice) -> list[PlanResult]: ...
    def __getitem__(self, index: int | slice) -> PlanResult | list[PlanResult]:
        return self._results[index]

    def __len__(self) -> int:
        return len(self._results)

    def __eq__(self, other: object) -> bool:
        return self._results == (other._results if isinstance(other, PlanResults) else other)

    __hash__ = None  # type: ignore[assignment]  # mutable contents, like the list it stands for

    def __repr__(self) -> str:
        # Short: Python 3.11's asyncio.run reprs the finished main task, result included, when it restores SIGINT's
        # handler; a list's repr would build and print the change lists of its first plans (~0.1 s at 10k rows).
        return f"<PlanResults: {len(self)} plans, {sum(r.created for r in self._results)} occurrences created>"


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


# `async` for Prefect's async engine: the sync engine ends every run by joining its heartbeat thread, which sleeps in
# one-second steps (`prefect.flow_engine._send_heartbeats`): ~1 s of nothing on a short run (the docstring is the run
# page's description, so the note is here). The work is the same synchronous tasks, in order; heartbeats still go
# out from their own thread, every PREFECT_FLOWS_HEARTBEAT_FREQUENCY seconds.
@flow(
    name="plan-all-agreements",
    log_prints=True,
    # Prefect's async engine asks the server for its default result storage through a sync client it never closes
    # (`prefect.results._read_server_default_result_storage_block_id`: an unclosed socket, a ResourceWarning). Naming
    # the storage skips that request; results are not kept (persist_result=False, Prefect's default), as before.
    result_storage=Path(get_current_settings().results.local_storage_path),
    persist_result=False,
)
@explained_async
async def plan_all_agreements(
    directory: Annotated[
        str, label("协议文件夹", "其中每个 .yaml 文件是一份协议", min_length=1, max_length=1000)
    ] = "agreements",
    today: PlanDay = None,
    actor: Annotated[str, label("操作人", "记入台账（不填则为系统设置 COOP_ACTOR）", max_length=100)] = "",
) -> PlanResults:
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
    # The sync tasks share one API client (the async engine has only an async one: each would open its own).
    with SyncClientContext.get_or_create():
        check_schema(url)
        paths = agreement_files(directory)
        runs: list[PlanRun] = []
        for start in range(0, len(paths), BATCH_FILES):
            runs += plan_batch(paths[start : start + BATCH_FILES], day, actor.strip() or settings.actor, url, settings)
        publish_plan_index(day, quote(runs))  # quoted: Prefect would walk every PlanChange of every result for futures
    failed = [r for r in runs if r.result is None]
    if failed:
        raise PlansFailed(len(failed), len(runs))
    return PlanResults(r.result for r in runs if r.result is not None)


if __name__ == "__main__":
    # `make demo`: the real flow on Prefect's ephemeral server (nothing to start first); `coop demo` then shows it.
    asyncio.run(plan_all_agreements())
