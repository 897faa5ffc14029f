"""Upgrading a database written by an earlier release keeps every row, and its ledger still verifies.

The old database is built the way that release built it — `alembic upgrade <old revision>` — and filled
with what the application writes (a plan, a completion, a sweep, a waiver, notices and outbox rows):
those rows are produced by the application on a scratch database and copied column by column into the
old schema. Then the old database is upgraded to head and compared row for row.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import FIXTURES, PG_ADMIN_URL
from reliability.scenario import decide, plan, verify_ledger
from sqlalchemy import Column, MetaData, Table, create_engine, inspect, select, text
from sqlmodel import SQLModel

import models  # noqa: F401  (registers the tables)
from coop.agreement.loader import load_agreement, parse_agreement
from coop.report import CompletionReport
from coop.services.schema import upgrade
from coop.store.occurrences import record_completion, sweep, waive
from models.db import get_engine, session_scope

PLAN_DAY = dt.date(2026, 3, 20)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database with no schema at all, as an earlier release found it before its first start."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'old-release.db'}"
        return
    name = f"coop_upgrade_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        from models.db import dispose_engines

        dispose_engines()  # close pooled connections before dropping
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _write_history(url: str) -> None:
    """What a coordinator and departments do in the first weeks: plan, report, waive, sweep, notify."""
    plan(url, load_agreement(FIXTURES / "small.yaml"), PLAN_DAY)
    # Before 0007 a party was its short name: the old schema cannot hold two agreements' 渝北区 apart, so the second
    # agreement's parties get names of their own (tests/reliability/test_upgrade_identity.py covers shared ones).
    notify = (FIXTURES / "notify.yaml").read_text(encoding="utf-8")
    for name, other in (("渝北区", "北碚区"), ("长寿区", "江津区"), ("广安市", "达州市")):
        notify = notify.replace(name, other)
    plan(url, parse_agreement(notify, "notify.yaml"), PLAN_DAY)
    with session_scope(url) as s:
        rows = s.execute(
            text(
                "SELECT o.id, a.name || '/' || d.name FROM occurrence o JOIN department d ON d.id = o.department_id"
                " JOIN agency a ON a.id = d.agency_id WHERE o.agreement_id = 'test-small' ORDER BY o.due_date, o.id"
            )
        ).all()
        record_completion(
            s,
            CompletionReport(
                rows[0][0], rows[0][1], participants=12, evidence=["https://example.cn/sign-in.pdf"], note="已完成"
            ),
            "渝北区",
        )
        waive(s, rows[1][0], "活动取消，经双方同意豁免", "coordinator")
        sweep(s, PLAN_DAY, "sweeper")
    decide(url, PLAN_DAY)


def _copy_into_old_schema(source: str, old: str) -> list[str]:
    """Copy each table the old schema has, only the columns it has, parents before children."""
    old_engine = get_engine(old)
    old_meta = MetaData()
    old_meta.reflect(old_engine)
    tables = [t for t in old_meta.sorted_tables if t.name != "alembic_version"]
    with get_engine(source).connect() as src, old_engine.begin() as dst:
        for old_table in tables:
            model = SQLModel.metadata.tables[old_table.name]
            columns = [model.c[c.name] for c in old_table.columns]
            rows = [dict(r._mapping) for r in src.execute(select(*columns))]
            # Only the old columns, typed as the models type them: a newer column's default must not be inserted.
            target = Table(old_table.name, MetaData(), *(Column(c.name, c.type) for c in columns))
            if rows:
                dst.execute(target.insert(), rows)
            if dst.dialect.name == "postgresql" and "id" in old_table.c and old_table.c.id.autoincrement is not False:
                # Rows were copied with their ids; the old release would have advanced the sequences itself.
                dst.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('\"{old_table.name}\"', 'id'), coalesce(max(id), 1)) "
                        f'FROM "{old_table.name}"'
                    )
                )
    return [t.name for t in tables]


def _contents(url: str, table: str, columns: list[str]) -> list[tuple[Any, ...]]:
    model = SQLModel.metadata.tables[table]
    key = list(model.primary_key.columns)
    with get_engine(url).connect() as conn:
        return [tuple(r) for r in conn.execute(select(*(model.c[c] for c in columns)).order_by(*key))]


@pytest.mark.parametrize("previous", ["0001", "0003"])
def test_upgrade_from_a_previous_release_keeps_every_row_and_the_ledger(
    tmp_path: Path, empty_url: str, previous: str
) -> None:
    db_url = f"sqlite:///{tmp_path / 'scratch.db'}"  # the application's rows, written on a scratch database at head
    upgrade(db_url)
    _write_history(db_url)
    upgrade(empty_url, previous)
    copied = _copy_into_old_schema(db_url, empty_url)
    assert {"agreement", "occurrence", "report", "ledger_event", "ledger_head"} <= set(copied)
    old_columns = {t: [c["name"] for c in inspect(get_engine(empty_url)).get_columns(t)] for t in copied}
    assert verify_ledger(empty_url).ok  # the old release's ledger, as it was

    upgrade(empty_url)

    for table, columns in old_columns.items():
        assert _contents(empty_url, table, columns) == _contents(db_url, table, columns), (
            f"{table} changed in the upgrade"
        )
    result = verify_ledger(empty_url)
    assert result.ok and result.events == verify_ledger(db_url).events
    # And the upgraded database is fully usable: re-planning is a no-op, new work chains onto the old ledger.
    assert plan(empty_url, load_agreement(FIXTURES / "small.yaml"), PLAN_DAY).unchanged
    with session_scope(empty_url) as s:
        oid, dept = s.execute(
            text(
                "SELECT o.id, a.name || '/' || d.name FROM occurrence o JOIN department d ON d.id = o.department_id"
                " JOIN agency a ON a.id = d.agency_id"
                " WHERE o.status IN ('planned', 'due', 'overdue') ORDER BY o.id LIMIT 1"
            )
        ).one()
        record_completion(s, CompletionReport(oid, dept, participants=3), "after-upgrade")
    decide(empty_url, PLAN_DAY + dt.timedelta(days=3))
    after = verify_ledger(empty_url)
    assert after.ok and after.events == result.events + 1
