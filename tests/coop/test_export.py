"""CSV and XLSX exports: streamed in chunks, Chinese intact, formulas neutralised."""

from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path
from types import SimpleNamespace

from openpyxl import load_workbook

from coop.export import HEADER, csv_chunks, export_chunks, state_row, write_xlsx, xlsx_chunks


def state(i: int, **extra: object) -> SimpleNamespace:
    values = {
        "id": i,
        "agreement_id": "test-small",
        "agreement_title": "测试合作协议",
        "programme": "1",
        "clause": "1.1",
        "clause_title": "联合培训",
        "party": "渝北区",
        "department": "区委社会工作部",
        "host": "长寿区",
        "window_start": dt.date(2026, 3, 11),
        "due_date": dt.date(2026, 3, 31),
        "status": "done",
        "completed_on": dt.date(2026, 3, 30),
        "on_time": True,
        "provisional": False,
        "reports": 1,
        "participants": 48,
        "metrics": {"participants": 48},
        "targets": {"participants": 50},
        "evidence": 2,
    }
    values.update(extra)
    return SimpleNamespace(**values)


def test_csv_streams_in_chunks_and_reads_back() -> None:
    rows = (state_row(state(i)) for i in range(1, 1201))
    chunks = list(csv_chunks(rows))
    assert len(chunks) == 3  # 500 + 500 rows as they fill, then the last 200
    text = b"".join(chunks).decode("utf-8")
    assert text.startswith("\ufeff")
    parsed = list(csv.reader(io.StringIO(text[1:])))
    assert parsed[0] == HEADER and len(parsed) == 1201
    assert parsed[1][:3] == ["1", "test-small", "测试合作协议"]
    assert parsed[1][11] == "已完成" and parsed[1][13] == "是" and parsed[1][17] == "参与人数=48/50"


def test_formula_like_text_is_neutralised() -> None:
    text = b"".join(csv_chunks([['=HYPERLINK("http://x")', "+1", "-2", "@SUM(A1)", "普通", 5]])).decode("utf-8-sig")
    assert list(csv.reader(io.StringIO(text)))[1] == [
        '\'=HYPERLINK("http://x")',
        "'+1",
        "'-2",
        "'@SUM(A1)",
        "普通",
        "5",
    ]


def test_xlsx_write_only_round_trip(tmp_path: Path) -> None:
    target = tmp_path / "out.xlsx"
    assert (
        write_xlsx(
            (state_row(state(i, status="overdue", completed_on=None, on_time=None)) for i in range(1, 301)), target
        )
        == 300
    )
    book = load_workbook(target, read_only=True)  # read-only keeps the file open until closed
    rows = list(book.active.iter_rows(values_only=True))
    book.close()
    assert list(rows[0]) == HEADER and len(rows) == 301
    assert rows[1][11] == "已逾期" and rows[1][12] is None and rows[300][0] == 300


def test_xlsx_chunks_are_a_complete_file_and_leave_no_temp_file(tmp_path: Path) -> None:
    data = b"".join(xlsx_chunks([state_row(state(1))]))
    assert data[:2] == b"PK"
    (tmp_path / "x.xlsx").write_bytes(data)
    assert load_workbook(tmp_path / "x.xlsx").active["F2"].value == "联合培训"
    assert b"".join(export_chunks("csv", [])).decode("utf-8-sig").startswith("任务编号")


def test_xlsx_keeps_dates_numbers_and_text_and_neutralises_formulas(tmp_path: Path) -> None:
    target = tmp_path / "cells.xlsx"
    row = [
        '=HYPERLINK("http://x")',
        "@SUM(A1)",
        "普通 <&> 文本",
        " 前后空格 ",
        dt.date(2026, 3, 31),
        dt.datetime(2026, 3, 31, 9, 30),
        13200,
        2.5,
        "控制\x01字符",
        "",
    ]
    assert write_xlsx([row], target, header=[f"c{i}" for i in range(len(row))], title="审计导出") == 1
    book = load_workbook(target)
    sheet = book.active
    assert sheet.title == "审计导出"
    values = [c.value for c in sheet[2]]
    assert values[:4] == ['\'=HYPERLINK("http://x")', "'@SUM(A1)", "普通 <&> 文本", " 前后空格 "]
    assert values[4].date() == dt.date(2026, 3, 31) and sheet["E2"].number_format == "yyyy-mm-dd"
    assert values[5] == dt.datetime(2026, 3, 31, 9, 30)
    assert values[6:8] == [13200, 2.5]
    assert (
        values[8] is not None and values[8].startswith("控制") and values[9] is None
    )  # a control code does not abort the export
