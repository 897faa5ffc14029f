"""A named coordinator's operations on one task (or opening one of an on-demand clause), and the backfill of past
completions, as forms in the UI."""

from __future__ import annotations

from typing import Annotated, Literal

from prefect import flow
from pydantic import BaseModel, ConfigDict

from coop.errors import FormInvalid
from coop.services.backfill import BackfillResult
from coop.services.on_demand import OpenedOccurrence
from coop.services.operations import Operation, OperationResult
from coop.settings import get_settings
from flows.failure import explained
from flows.forms import UNSET, Coordinator, OptionalDate, OptionalOccurrenceId, Today, label
from tasks.database import check_schema
from tasks.operations import (
    apply_operation,
    identify_coordinator,
    import_backfill,
    open_on_demand_occurrence,
    publish_backfill_artifact,
    publish_opened_artifact,
    publish_operation_artifact,
)

# The operations on an existing task, and `open`: a new task of an on-demand clause (coop.services.on_demand).
FormOperation = Literal[Operation, Literal["open"]]


class OperationRequest(BaseModel):
    """One operation on one task, or a new task of an on-demand clause; which fields are needed depends on it."""

    model_config = ConfigDict(extra="forbid")

    operation: FormOperation = label(
        "操作",
        "extend 延期 / suspend 暂停 / resume 恢复 / reopen 重新打开 / reassign 改派 / waive 豁免 / cancel 取消 / "
        "open 发起按需任务（按需开展的条款，填协议、条款和部门，不填任务编号）",
    )
    occurrence_id: Annotated[
        OptionalOccurrenceId,
        label("任务编号", "发起按需任务以外的操作必填；见计划报告、逾期清单或部门任务清单"),
    ] = UNSET
    reason: str = label("理由", "必填，记入台账并告知责任部门", min_length=1, max_length=2000)
    agreement: str = label(
        "协议", "发起按需任务时必填：协议标识，如 zhuzhou-elderly-room-2024", max_length=80, default=""
    )
    clause: str = label("条款", "发起按需任务时必填：条款编号（按需开展的条款），如 2.9", max_length=40, default="")
    due_date: Annotated[
        OptionalDate,
        label(
            "截止日期",
            "延期时必填（新的截止日期）；恢复时可选（默认按暂停天数顺延）；"
            "发起按需任务时可选（默认今天起按条款的 window_days 天），格式 YYYY-MM-DD",
        ),
    ] = UNSET
    department: str = label(
        "单位/部门",
        "改派时为新的责任部门，发起按需任务时为承办部门（必填），写作 单位/部门（同一协议的签约方）",
        max_length=401,
        default="",
    )
    today: Annotated[
        Today, label("基准日", "默认今天（上海时区）；决定恢复、重新打开后的状态，发起按需任务时为发起日")
    ] = UNSET


@flow(name="coordinator-operation", log_prints=True)
@explained
def coordinator_operation(
    coordinator: Coordinator,
    request: Annotated[
        OperationRequest,
        label("操作内容", "操作、任务编号、理由，以及延期/改派所需的日期或部门；发起按需任务时填协议、条款和部门"),
    ],
) -> OperationResult | OpenedOccurrence:
    """Apply one coordinator operation, or open a task of an on-demand clause; the change, the ledger event and the
    department's notice land together.

    Args:
        coordinator: 操作人：持有有效具名协调人令牌的协调人姓名（记入台账）
        request: 操作内容：操作、任务编号、理由，以及延期/改派所需的日期或部门；发起按需任务时填协议、条款和部门
    """
    if request.operation == "open":
        return _open(coordinator, request)
    if request.occurrence_id is None:
        raise FormInvalid("请填写任务编号（只有发起按需任务不填） (occurrence_id is required)")
    url = get_settings().database_url
    check_schema(url)
    who = identify_coordinator(coordinator, url)
    result = apply_operation(
        who,
        request.operation,
        request.occurrence_id,
        request.reason,
        request.due_date,
        request.department.strip() or None,
        request.today,
        url,
    )
    publish_operation_artifact(result, request.reason)
    return result


def _open(coordinator: str, request: OperationRequest) -> OpenedOccurrence:
    """The `open` operation: a task of an on-demand clause for one department, from today to its due date."""
    agreement, clause, department = request.agreement.strip(), request.clause.strip(), request.department.strip()
    missing = [name for name, value in (("协议", agreement), ("条款", clause), ("单位/部门", department)) if not value]
    if missing:
        raise FormInvalid(f"发起按需任务须填写{'、'.join(missing)} (agreement, clause and department are required)")
    url = get_settings().database_url
    check_schema(url)
    who = identify_coordinator(coordinator, url)
    opened = open_on_demand_occurrence(
        who, agreement, clause, department, request.reason, request.due_date, request.today, url
    )
    publish_opened_artifact(opened, agreement, clause, department, request.reason)
    return opened


@flow(name="backfill-completions", log_prints=True)
@explained
def backfill_completions(
    coordinator: Coordinator,
    ledger_file: Annotated[
        str, label("台账文件", "CSV 或 XLSX 文件路径（工作节点可读）", min_length=1, max_length=1000)
    ],
    today: Annotated[Today, label("基准日", "默认今天（上海时区）：完成日期不能晚于它")] = None,
) -> BackfillResult:
    """Import a department's 台账 of past completions with their real dates; any bad row and nothing is written.

    Args:
        coordinator: 补录人：持有有效具名协调人令牌的协调人姓名（记入台账）
        ledger_file: 台账文件路径（CSV 或 XLSX，工作节点可读），列：任务编号 或 协议/条款/日期，部门，完成日期……
        today: 基准日（默认今天，上海时区）：完成日期不能晚于它
    """
    url = get_settings().database_url
    check_schema(url)
    who = identify_coordinator(coordinator, url)
    result = import_backfill(who, ledger_file, today, url)
    publish_backfill_artifact(result, who)
    return result
