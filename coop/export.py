"""Audit exports as CSV or XLSX, written row by row from a stream (openpyxl write-only mode), never all in memory."""

from __future__ import annotations

import csv
import io
import os
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

from openpyxl import Workbook

from coop.audit import status_label

ExportFormat = Literal["csv", "xlsx"]
CHUNK_ROWS = 500
READ_CHUNK = 256 * 1024
MEDIA_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}

HEADER = [
    "任务编号",
    "协议",
    "协议名称",
    "工程",
    "条款",
    "任务",
    "责任单位",
    "责任部门",
    "承办方",
    "办理期开始",
    "截止日期",
    "状态",
    "完成日期",
    "是否按时",
    "暂定日期",
    "报告次数",
    "参与人数合计",
    "指标（已报告/目标）",
    "佐证材料数",
]


def state_row(state: Any) -> list[Any]:
    """One export row for an occurrence state (see coop.store.audit.OccurrenceState)."""
    names = sorted(set(state.targets) | set(state.metrics))
    metrics = "；".join(f"{n}={state.metrics.get(n, 0)}/{state.targets.get(n, 0)}" for n in names)
    on_time = state.on_time
    return [
        state.id,
        state.agreement_id,
        state.agreement_title,
        state.programme,
        state.clause,
        state.clause_title,
        state.party,
        state.department,
        state.host or "",
        state.window_start,
        state.due_date,
        status_label(state.status),
        state.completed_on or "",
        "" if on_time is None else ("是" if on_time else "否"),
        "是" if state.provisional else "否",
        state.reports,
        state.participants,
        metrics,
        state.evidence,
    ]


def _cell(value: Any) -> Any:
    """Neutralise spreadsheet formulas in text typed by users (CSV/formula injection)."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def csv_chunks(rows: Iterable[Sequence[Any]], header: Sequence[str] = HEADER) -> Iterator[bytes]:
    """UTF-8 CSV with a BOM (so Excel shows Chinese correctly), yielded every CHUNK_ROWS rows."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    buffer.write("\ufeff")
    writer.writerow(header)
    for count, row in enumerate(rows, start=1):
        writer.writerow([_cell(v) for v in row])
        if count % CHUNK_ROWS == 0:
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode("utf-8")


def write_xlsx(rows: Iterable[Sequence[Any]], target: Path | str, header: Sequence[str] = HEADER, title: str = "审计导出") -> int:
    """Write rows into a write-only workbook (constant memory); returns the number of data rows."""
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title=title[:31])
    sheet.append(list(header))
    count = 0
    for row in rows:
        sheet.append([_cell(v) for v in row])
        count += 1
    workbook.save(str(target))
    return count


def xlsx_chunks(rows: Iterable[Sequence[Any]], header: Sequence[str] = HEADER, title: str = "审计导出") -> Iterator[bytes]:
    """An XLSX is a zip that is only complete at the end: build it in a temporary file, then stream that file."""
    fd, name = tempfile.mkstemp(suffix=".xlsx", prefix="coop-export-")
    os.close(fd)
    try:
        write_xlsx(rows, name, header, title)
        with open(name, "rb") as handle:
            while chunk := handle.read(READ_CHUNK):
                yield chunk
    finally:
        os.unlink(name)


def export_chunks(fmt: ExportFormat, rows: Iterable[Sequence[Any]], header: Sequence[str] = HEADER) -> Iterator[bytes]:
    if fmt == "csv":
        return csv_chunks(rows, header)
    if fmt == "xlsx":
        return xlsx_chunks(rows, header)
    raise ValueError(f"unknown export format {fmt!r}")
