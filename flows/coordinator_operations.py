"""A named coordinator's operations on one task, and the backfill of past completions, as forms in the UI."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from prefect import flow
from pydantic import BaseModel, ConfigDict

from coop.services.backfill import BackfillResult
from coop.services.operations import Operation, OperationResult
from coop.settings import get_settings
from flows.failure import explained
from flows.forms import Coordinator, Today, label
from tasks.database import check_schema
from tasks.operations import (
    apply_operation,
    identify_coordinator,
    import_backfill,
    publish_backfill_artifact,
    publish_operation_artifact,
)


class OperationRequest(BaseModel):
    """One operation on one task; which fields are needed depends on the operation."""

    model_config = ConfigDict(extra="forbid")

    operation: Operation = label(
        "操作",
        "extend 延期 / suspend 暂停 / resume 恢复 / reopen 重新打开 / reassign 改派 / waive 豁免 / cancel 取消",
    )
    occurrence_id: int = label("任务编号", "见计划报告、逾期清单或部门任务清单", ge=1, le=2**31 - 1)
    reason: str = label("理由", "必填，记入台账并告知责任部门", min_length=1, max_length=2000)
    due_date: Annotated[
        dt.date | None,
        label("新的截止日期", "延期时必填；恢复时可选（默认按暂停天数顺延）"),
    ] = None
    department: str = label(
        "新的责任部门", "改派时必填，写作 单位/部门（同一协议的签约方）", max_length=401, default=""
    )
    today: Annotated[Today, label("基准日", "默认今天（上海时区）；决定恢复、重新打开后的状态")] = None


@flow(name="coordinator-operation", log_prints=True)
@explained
def coordinator_operation(
    coordinator: Coordinator,
    request: Annotated[OperationRequest, label("操作内容", "操作、任务编号、理由，以及延期/改派所需的日期或部门")],
) -> OperationResult:
    """Apply one coordinator operation; the change, the ledger event and the department's notice land together.

    Args:
        coordinator: 操作人：持有有效具名协调人令牌的协调人姓名（记入台账）
        request: 操作内容：操作、任务编号、理由，以及延期/改派所需的日期或部门
    """
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
