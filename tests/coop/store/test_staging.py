"""Staged rows: the COPY text the helper process writes reads back as the very values it was made from."""

from __future__ import annotations

import datetime as dt

import psycopg
import pytest
from sqlalchemy.engine import make_url

from coop.store.staging import CLAUSE, DEPARTMENT, copy_text, dialect_named

MIDNIGHT = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
# In `CREATE_COLUMNS` order; the clause and department columns (ids the writer fills in) are left out of the text.
ROWS = [
    (
        "渝广-2024",
        0,
        "4.4@2025-03-10/渝北区",
        dt.date(2025, 3, 10),
        dt.date(2025, 3, 10),
        dt.date(2025, 2, 24),
        "渝北区",
        None,
        1,
        "overdue",
        False,
        '{"参与人数": 30}',
        1,
        dt.datetime(2026, 11, 29, 20, 30, 1, 123456, tzinfo=dt.UTC),
    ),
    (
        "a\\b",  # every character COPY's text format escapes: backslash, tab, newline, carriage return
        1,
        "key\twith\ttabs",
        dt.date(2024, 2, 29),
        dt.date(2024, 3, 1),
        dt.date(2024, 2, 29),
        "line\nbreak",
        "carriage\rreturn \\N not null",
        0,
        "untracked",
        True,
        "{}",
        7,
        dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    ),
    # a flag and a number that are equal in Python (True == 1, False == 0) but not in the text
    *(
        ("x", 0, f"k{flag}", *[dt.date(2026, 1, 1)] * 3, None, None, 0, "due", flag, "{}", int(flag), MIDNIGHT)
        for flag in (True, False)
    ),
]
TEXT_COLUMNS = (
    "agreement_id text, key text, nominal_date date, due_date date, window_start date, host text, location text, "
    "status text, provisional boolean, targets json, version integer, updated_at timestamptz"
)


@pytest.mark.postgres
def test_copy_text_reads_back_as_the_rows_it_was_made_from(pg_server_url: str) -> None:
    url = make_url(pg_server_url).set(drivername="postgresql")
    with psycopg.connect(url.render_as_string(hide_password=False)) as conn:
        conn.execute(f"CREATE TEMP TABLE staged ({TEXT_COLUMNS})")
        with conn.cursor().copy("COPY staged FROM STDIN") as sink:
            sink.write(copy_text(ROWS))
        back = conn.execute("SELECT *, targets::text FROM staged").fetchall()
    expected = [tuple(v for i, v in enumerate(row) if i not in (CLAUSE, DEPARTMENT)) for row in ROWS]
    assert [r[:9] + (r[-1],) + r[10:12] for r in back] == expected


def test_copy_text_has_one_line_per_row_and_refuses_what_it_cannot_write() -> None:
    assert copy_text(ROWS).count(b"\n") == len(ROWS) - 1  # newlines inside values are escaped
    with pytest.raises(TypeError, match="COPY"):
        copy_text([(*ROWS[0][:6], object(), *ROWS[0][7:])])
    with pytest.raises(ValueError, match="不支持"):
        dialect_named("mysql")
