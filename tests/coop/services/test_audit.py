"""The audit services: one rule for the audit day, one for the read-only login, and the queries on a real database."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import pytest
from conftest_web import YUBEI, plan_small
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from coop.errors import CoopError
from coop.report import CompletionReport
from coop.services import audit, verification
from coop.settings import Settings
from coop.store.audit import AuditFilter
from coop.store.occurrences import record_completion
from models.db import session_scope

TODAY = dt.date(2026, 6, 1)


def test_audit_day_refuses_a_day_not_yet_ended_and_rebuilds_only_the_past() -> None:
    assert audit.audit_day(None, TODAY) == audit.AuditDay(TODAY, TODAY)
    assert not audit.audit_day(TODAY, TODAY).from_ledger
    assert audit.audit_day(TODAY - dt.timedelta(days=1), TODAY).from_ledger
    with pytest.raises(CoopError, match="晚于今天"):
        audit.audit_day(TODAY + dt.timedelta(days=1), TODAY)
    with pytest.raises(CoopError, match="1970"):
        audit.audit_day(dt.date(1969, 12, 31), TODAY)


def test_auditor_login_prefers_an_explicit_url_then_the_dedicated_login() -> None:
    plain = Settings(database_url="postgresql+psycopg://writer@127.0.0.1/coop")
    dedicated = Settings(
        database_url="postgresql+psycopg://writer@127.0.0.1/coop",
        auditor_database_url="postgresql+psycopg://reader@127.0.0.1/coop",
    )
    assert audit.auditor_login(plain) == audit.AuditorLogin(plain.database_url, switch_role=True)
    assert audit.auditor_login(dedicated) == audit.AuditorLogin("postgresql+psycopg://reader@127.0.0.1/coop", False)
    assert audit.auditor_login(dedicated, "sqlite:///x.db") == audit.AuditorLogin("sqlite:///x.db", True)


def test_groupings_and_export_formats_are_checked() -> None:
    assert audit.group_by("department") == "department"
    with pytest.raises(CoopError, match="week"):
        audit.group_by("week")
    assert audit.export_format(Path("a.CSV")) == "csv" and audit.export_format(Path("b.xlsx")) == "xlsx"
    with pytest.raises(CoopError, match=r"\.pdf"):
        audit.export_format(Path("c.pdf"))


def test_queries_run_on_the_read_only_login(db_url: str, tmp_path: Path) -> None:
    ids = plan_small(db_url)
    with session_scope(db_url) as s:
        record_completion(s, CompletionReport(ids["1.1@2026-03-31"], YUBEI, participants=40), YUBEI)
    settings = Settings(database_url=db_url)
    today = audit.audit_day()
    summary = audit.summarise(settings, AuditFilter(party="渝北区"), today, "party")
    assert [g.group for g in summary.groups] == ["渝北区"] and summary.filters == {"party": "渝北区"}
    assert audit.summarise(settings, AuditFilter(), today).overall.total == 15
    target = tmp_path / "party.csv"
    count = audit.export_file(settings, AuditFilter(party="渝北区"), today, target)
    with target.open(encoding="utf-8-sig") as handle:
        assert count == summary.overall.total == len(list(csv.reader(handle))) - 1
    history = audit.occurrence_history(settings, ids["1.1@2026-03-31"])
    assert history.events[-1].kind == "occurrence_done"
    assert verification.verify_ledger(settings).ok and audit.dead_letters(settings) == []
    with pytest.raises(DBAPIError), audit.auditor_session(settings) as session:
        session.execute(text("DELETE FROM ledger_event"))
