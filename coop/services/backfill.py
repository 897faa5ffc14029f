"""Backfill: completions that happened before coop tracked the agreement, with their real completion dates.

A department's existing 台账 (CSV or XLSX) is imported in one transaction: every row is checked first and any bad
row refuses the whole file with a Chinese message naming each row, so nothing half-lands. Each completion is a
ledger `occurrence_done` event marked `backfill`, with the real `completed_on` and the importing coordinator as
actor; the occurrence is closed on that day, so on-time rates use the real date, not the import's. An open task or
an untracked one (due before `tracking_from`) may be backfilled: the completion brings untracked history into the
rates. 参与人数 counts toward a `participants` target, as a report's does.

Columns (a header row; Chinese or English names, any order):
  任务编号 occurrence_id — or 协议 agreement + 条款 clause + 日期 date (the task's planned or due date)
  部门 department (单位/部门, required) · 完成日期 completed_on (YYYY-MM-DD, required)
  参与人数 participants · 指标 metrics (name=value；…) · 佐证材料 evidence (links, separated by ；or spaces) · 说明 note
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlmodel import Session, col

from coop.clock import today_in_shanghai
from coop.errors import BackfillRefused, CoopError
from coop.labels import status_label
from coop.ledger import EventDraft
from coop.services.coordinators import Coordinator, authorise
from coop.store import ledger
from coop.store import operations as store
from coop.store.citations import cite
from coop.store.occurrences import (
    EVIDENCE_FILE,
    EVIDENCE_LINK,
    MAX_EVIDENCE,
    MAX_METRIC,
    MAX_NOTE,
    counted_metrics,
    is_storable,
    resolve_department,
)
from models.db import session_scope
from models.tables import OPEN_STATUSES, ClauseRecord, Occurrence, OccurrenceStatus, Report

MAX_ROWS = 20000
# Untracked: due before tracking_from, kept as history; a backfilled completion is exactly what moves it into the rates.
BACKFILLABLE = frozenset({*OPEN_STATUSES, OccurrenceStatus.untracked})
COLUMNS: dict[str, tuple[str, ...]] = {
    "occurrence_id": ("任务编号", "编号", "occurrence_id", "id"),
    "agreement": ("协议", "协议编号", "agreement"),
    "clause": ("条款", "条款编号", "clause"),
    "date": ("日期", "计划日期", "截止日期", "date", "due_date", "nominal_date"),
    "department": ("部门", "责任部门", "department"),
    "completed_on": ("完成日期", "completed_on", "completed"),
    "participants": ("参与人数", "participants"),
    "metrics": ("指标", "metrics"),
    "evidence": ("佐证材料", "佐证", "evidence"),
    "note": ("说明", "备注", "note"),
}
_ALIASES = {alias.lower(): name for name, aliases in COLUMNS.items() for alias in aliases}
_SPLIT = re.compile(r"[；;，,\s]+")


@dataclass(frozen=True)
class BackfillRow:
    """One past completion; `row` is its line in the source file (for messages), 0 when entered by hand."""

    department: str
    completed_on: dt.date
    occurrence_id: int | None = None
    agreement: str | None = None
    clause: str | None = None
    date: dt.date | None = None
    participants: int | None = None
    metrics: dict[str, int] = field(default_factory=dict)
    evidence: list[str] = field(default_factory=list)
    note: str | None = None
    row: int = 0


@dataclass(frozen=True)
class BackfillResult:
    source: str
    recorded: int
    event_ids: list[int]
    occurrence_ids: list[int]
    on_time: int


def import_file(
    database_url: str, coordinator: Coordinator, path: Path | str, today: dt.date | None = None
) -> BackfillResult:
    """Import a CSV or XLSX 台账; all rows land in one transaction, or none does."""
    path = Path(path)
    rows, problems = read_rows(path)
    if problems:
        raise BackfillRefused(path.name, problems)
    return record(database_url, coordinator, rows, source=path.name, today=today)


def record_completion_on(
    database_url: str,
    coordinator: Coordinator,
    occurrence_id: int,
    department: str,
    completed_on: dt.date,
    *,
    participants: int | None = None,
    metrics: dict[str, int] | None = None,
    evidence: list[str] | None = None,
    note: str | None = None,
    today: dt.date | None = None,
) -> BackfillResult:
    """One past completion with its real date (`coop done --on YYYY-MM-DD`)."""
    row = BackfillRow(
        department=department,
        completed_on=completed_on,
        occurrence_id=occurrence_id,
        participants=participants,
        metrics=metrics or {},
        evidence=evidence or [],
        note=note,
    )
    return record(database_url, coordinator, [row], source="coop done --on", today=today)


def record(
    database_url: str,
    coordinator: Coordinator,
    rows: list[BackfillRow],
    source: str,
    today: dt.date | None = None,
) -> BackfillResult:
    """Check every row against the database, then write them all; any problem refuses the whole batch."""
    today = today or today_in_shanghai()
    if not rows:
        raise BackfillRefused(source, ["文件中没有数据行 (no data rows)"])
    with session_scope(database_url) as session:
        actor = authorise(session, coordinator)
        problems: list[str] = []
        resolved: list[tuple[BackfillRow, Occurrence, int, dict[str, int]]] = []
        seen: dict[int, int] = {}
        for row in rows:
            where = _where(row)
            try:
                occ, dept_id, targets = _resolve(session, row, today)
                authorise(session, coordinator, occ.agreement_id)
            except CoopError as exc:
                problems.append(f"{where}{exc}")
                continue
            assert occ.id is not None
            if occ.id in seen:
                problems.append(f"{where}任务 #{occ.id} 与第 {seen[occ.id]} 行重复 (duplicate task in this file)")
                continue
            seen[occ.id] = row.row
            resolved.append((row, occ, dept_id, targets))
        if problems:
            raise BackfillRefused(source, problems)
        event_ids = []
        for row, occ, dept_id, targets in resolved:
            event_ids.append(_write(session, row, occ, dept_id, actor, source, targets))
        return BackfillResult(
            source=source,
            recorded=len(resolved),
            event_ids=event_ids,
            occurrence_ids=[occ.id or 0 for _, occ, _, _ in resolved],
            on_time=sum(1 for row, occ, _, _ in resolved if row.completed_on <= occ.due_date),
        )


def _where(row: BackfillRow) -> str:
    return f"第 {row.row} 行：" if row.row else ""


def _resolve(session: Session, row: BackfillRow, today: dt.date) -> tuple[Occurrence, int, dict[str, int]]:
    """The occurrence a row completes, the reporting department's id and the clause's targets; CoopError says why not.

    The department is read within the task's agreement: two provinces' 省委社会工作部 are different departments.
    """
    if row.completed_on > today:
        raise CoopError(f"完成日期 {row.completed_on} 晚于今天 {today} (completion date in the future)")
    if row.occurrence_id is not None:
        occ = store.locked_occurrence(session, row.occurrence_id)
        if occ is None:
            raise CoopError(f"找不到任务 #{row.occurrence_id} (unknown occurrence id)")
        dept = resolve_department(session, row.department, occ.agreement_id)
        assert dept.id is not None
    else:
        if not (row.agreement and row.clause and row.date):
            raise CoopError("请填写任务编号，或同时填写 协议、条款、日期 (occurrence id or agreement+clause+date)")
        dept = resolve_department(session, row.department, row.agreement)
        assert dept.id is not None
        candidates = list(
            session.execute(
                select(Occurrence)
                .join(ClauseRecord, col(ClauseRecord.id) == col(Occurrence.clause_id))
                .where(
                    col(Occurrence.agreement_id) == row.agreement,
                    col(ClauseRecord.code) == row.clause,
                    (col(Occurrence.nominal_date) == row.date) | (col(Occurrence.due_date) == row.date),
                    col(Occurrence.department_id) == dept.id,
                )
                .with_for_update()
            ).scalars()
        )
        if len(candidates) != 1:
            found = "没有" if not candidates else f"有 {len(candidates)} 项"
            raise CoopError(
                f"协议 {row.agreement} 条款 {row.clause} 在 {row.date} {found} {row.department} 的任务 "
                "(no single matching task; give the occurrence id)"
            )
        occ = candidates[0]
    if occ.department_id != dept.id:
        raise CoopError(
            f"任务 #{occ.id} 不属于 {row.department}，属于 {store.department_label(session, occ.department_id)} "
            "(the task belongs to another department)"
        )
    if occ.status not in BACKFILLABLE:
        raise CoopError(
            f"任务 #{occ.id} 当前状态为“{status_label(str(occ.status))}”，不能补录完成 "
            "(only open or untracked tasks can be backfilled)"
        )
    if row.completed_on < occ.window_start - dt.timedelta(days=366):
        raise CoopError(
            f"完成日期 {row.completed_on} 远早于任务 #{occ.id} 的办理期（{occ.window_start} 起），请核对 "
            "(completion date long before the task's window)"
        )
    clause = session.get(ClauseRecord, occ.clause_id)
    assert clause is not None
    unknown = sorted(set(row.metrics) - set(clause.targets))
    if unknown:
        raise CoopError(f"条款 {clause.code} 没有指标 {', '.join(unknown)} (unknown metric)")
    # A coordinator's backfill may cite any stored file; citing marks it so the evidence clean-up keeps it.
    cite(session, [m.group(1) for item in row.evidence if (m := EVIDENCE_FILE.match(item))], None)
    return occ, dept.id, dict(clause.targets)


def _write(
    session: Session,
    row: BackfillRow,
    occ: Occurrence,
    dept_id: int,
    actor: str,
    source: str,
    targets: dict[str, int],
) -> int:
    assert occ.id is not None
    metrics = counted_metrics(row.participants, row.metrics, targets)
    # Noon in Beijing: the stored moment falls on the completion date in every report, whatever the time zone.
    moment = dt.datetime.combine(row.completed_on, dt.time(12), ZoneInfo("Asia/Shanghai")).astimezone(dt.UTC)
    payload: dict[str, Any] = {
        "outcome": "done",
        "backfill": True,
        "source": source,
        "row": row.row or None,
        "completed_on": str(row.completed_on),
        "participants": row.participants,
        "metrics": metrics,
        "evidence": row.evidence,
        "note": row.note,
        "department_id": dept_id,
        "due_date": str(occ.due_date),
        "on_time": row.completed_on <= occ.due_date,
        "previous_status": str(occ.status),
    }
    [event_id] = ledger.append(session, [EventDraft("occurrence_done", actor, payload, occ.agreement_id, occ.id)])
    occ.status, occ.closed_at, occ.updated_at = OccurrenceStatus.done, moment, moment
    session.add(occ)
    session.add(
        Report(
            occurrence_id=occ.id,
            department_id=dept_id,
            outcome="done",
            participants=row.participants,
            metrics=metrics,
            evidence=row.evidence,
            note=row.note,
            event_id=event_id,
            at=moment,
        )
    )
    session.flush()
    return event_id


# ---------------------------------------------------------------- reading files


def read_rows(path: Path) -> tuple[list[BackfillRow], list[str]]:
    """Parse a CSV (UTF-8, with or without BOM; GB18030 accepted) or XLSX file into rows and row-numbered problems."""
    suffix = path.suffix.lower()
    if not path.is_file():
        raise CoopError(f"找不到文件 {path} (no such file)")
    if suffix == ".csv":
        table = list(_csv_rows(path.read_bytes()))
    elif suffix in (".xlsx", ".xlsm"):
        table = list(_xlsx_rows(path))
    else:
        raise CoopError(f"{path.name}：只接受 .csv 或 .xlsx 文件 (backfill reads CSV or XLSX)")
    if not table:
        return [], ["文件为空 (empty file)"]
    header, body = table[0], table[1:]
    if len(body) > MAX_ROWS:
        return [], [f"一次最多补录 {MAX_ROWS} 行，本文件有 {len(body)} 行 (too many rows)"]
    columns, problems = _columns(header)
    if problems:
        return [], problems
    rows: list[BackfillRow] = []
    for number, cells in enumerate(body, start=2):
        values = {name: _text(cells[i]) if i < len(cells) else "" for name, i in columns.items()}
        if not any(values.values()):
            continue
        try:
            rows.append(_row(values, number, cells, columns))
        except CoopError as exc:
            problems.append(f"第 {number} 行：{exc}")
    return rows, problems


def _csv_rows(data: bytes) -> Iterator[list[Any]]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            text = data.decode("gb18030")
        except UnicodeDecodeError:
            raise CoopError("CSV 文件编码无法识别，请另存为 UTF-8 (CSV must be UTF-8 or GB18030)") from None
    try:
        yield from csv.reader(io.StringIO(text))
    except csv.Error as exc:
        raise CoopError(f"CSV 文件格式有误：{exc} (malformed CSV)") from None


def _xlsx_rows(path: Path) -> Iterator[list[Any]]:
    # openpyxl is imported only when an XLSX is imported: it is heavy and most runs never need it.
    from openpyxl import load_workbook  # type: ignore[import-untyped]

    # An uploaded workbook is untrusted input: whatever openpyxl (zip, XML, styles) fails on, the answer is the same
    # plain refusal, never a server error.
    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:
        raise CoopError(f"{path.name} 不是有效的 XLSX 文件 (not a valid XLSX file: {type(exc).__name__})") from None
    try:
        rows = [list(values) for values in book.worksheets[0].iter_rows(values_only=True)] if book.worksheets else []
    except Exception as exc:
        raise CoopError(f"{path.name} 的内容无法读取 (unreadable XLSX sheet: {type(exc).__name__})") from None
    finally:
        book.close()
    yield from rows


def _columns(header: list[Any]) -> tuple[dict[str, int], list[str]]:
    columns: dict[str, int] = {}
    problems = []
    for index, cell in enumerate(header):
        name = _ALIASES.get(_text(cell).lower())
        if name is None:
            continue
        if name in columns:
            problems.append(f"第 1 行：列“{_text(cell)}”重复 (duplicate column)")
        columns[name] = index
    for required in ("department", "completed_on"):
        if required not in columns:
            problems.append(f"第 1 行：缺少“{COLUMNS[required][0]}”列 (missing column {required})")
    if "occurrence_id" not in columns and not {"agreement", "clause", "date"} <= set(columns):
        problems.append("第 1 行：需要“任务编号”列，或“协议”“条款”“日期”三列 (occurrence id or agreement+clause+date)")
    return columns, problems


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _date(raw: Any, text: str, what: str) -> dt.date:
    if isinstance(raw, dt.datetime):
        return raw.date()
    if isinstance(raw, dt.date):
        return raw
    normalised = text.replace("/", "-").replace(".", "-").replace("年", "-").replace("月", "-").rstrip("日")
    try:
        parts = [int(p) for p in normalised.split("-")]
        return dt.date(parts[0], parts[1], parts[2]) if len(parts) == 3 else dt.date.fromisoformat(text)
    except (ValueError, IndexError, OverflowError):
        raise CoopError(f"{what}“{text}”不是日期，请写作 YYYY-MM-DD (not a date)") from None


def _int(text: str, what: str) -> int:
    if not (text.isascii() and text.isdigit()) or int(text) > MAX_METRIC:
        raise CoopError(f"{what}“{text}”应为 0–{MAX_METRIC} 的整数 (whole number expected)")
    return int(text)


def _row(values: dict[str, str], number: int, cells: list[Any], columns: dict[str, int]) -> BackfillRow:
    def raw(name: str) -> Any:
        index = columns.get(name)
        return cells[index] if index is not None and index < len(cells) else None

    for name, text in values.items():
        if not is_storable(text):
            raise CoopError(f"“{COLUMNS[name][0]}”含有不允许的字符 (NUL or unpaired surrogate)")
    if not values.get("department"):
        raise CoopError("缺少部门，请写作 单位/部门 (department missing)")
    if not values.get("completed_on"):
        raise CoopError("缺少完成日期 (completion date missing)")
    occurrence_id = None
    if values.get("occurrence_id"):
        occurrence_id = _int(values["occurrence_id"], "任务编号")
        if not 0 < occurrence_id < 2**31:
            raise CoopError(f"任务编号“{values['occurrence_id']}”不合理 (invalid occurrence id)")
    elif not (values.get("agreement") and values.get("clause") and values.get("date")):
        raise CoopError("请填写任务编号，或同时填写 协议、条款、日期 (occurrence id or agreement+clause+date)")
    metrics = dict(_metric(item) for item in _SPLIT.split(values.get("metrics", "")) if item)
    evidence = [item for item in _SPLIT.split(values.get("evidence", "")) if item]
    if len(evidence) > MAX_EVIDENCE:
        raise CoopError(f"佐证材料最多 {MAX_EVIDENCE} 项 (too many evidence items)")
    for item in evidence:
        if not (EVIDENCE_LINK.match(item) or EVIDENCE_FILE.match(item)):
            raise CoopError(f"佐证材料应为 http(s) 链接或 sha256:文件哈希（收到“{item[:80]}”） (evidence link)")
    note = values.get("note") or None
    if note is not None and len(note) > MAX_NOTE:
        raise CoopError(f"说明不能超过 {MAX_NOTE} 字 (note too long)")
    return BackfillRow(
        department=values["department"],
        completed_on=_date(raw("completed_on"), values["completed_on"], "完成日期"),
        occurrence_id=occurrence_id,
        agreement=values.get("agreement") or None,
        clause=values.get("clause") or None,
        date=_date(raw("date"), values["date"], "日期") if values.get("date") else None,
        participants=_int(values["participants"], "参与人数") if values.get("participants") else None,
        metrics=metrics,
        evidence=evidence,
        note=note,
        row=number,
    )


def _metric(item: str) -> tuple[str, int]:
    name, sep, value = item.partition("=")
    if not sep or not name.strip():
        raise CoopError(f"指标应写作 名称=数值（收到“{item[:80]}”） (metrics as name=value)")
    return name.strip(), _int(value.strip(), f"指标 {name.strip()}")


def rows_from(records: Iterable[dict[str, Any]]) -> list[BackfillRow]:
    """Rows given as mappings with the English column names (for the API); problems raise BackfillRefused."""
    rows, problems = [], []
    for number, record in enumerate(records, start=1):
        values = {name: _text(record.get(name)) for name in COLUMNS}
        cells = [record.get(name) for name in COLUMNS]
        columns = {name: i for i, name in enumerate(COLUMNS)}
        try:
            rows.append(_row(values, number, cells, columns))
        except CoopError as exc:
            problems.append(f"第 {number} 行：{exc}")
    if problems:
        raise BackfillRefused("补录数据", problems)
    return rows
