"""One truth for numbers: a reported head count counts toward `targets.participants` (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt

from conftest import FIXTURES
from sqlalchemy import select

from coop.agreement.loader import load_agreement
from coop.audit import summarise_states
from coop.calendar import WorkdayCalendar
from coop.planning import calendar_fingerprint, expand
from coop.report import CompletionReport
from coop.services.audit import auditor_session
from coop.services.reports import record_report
from coop.settings import Settings
from coop.store.access import reported_totals
from coop.store.audit import AuditFilter, occurrence_states
from coop.store.plans import apply_plan
from models.db import session_scope
from models.tables import ClauseRecord, Occurrence

CAL = WorkdayCalendar()
TODAY = dt.date(2026, 3, 1)


def test_coop_done_participants_count_toward_the_participants_target(db_url: str) -> None:
    loaded = load_agreement(FIXTURES / "small.yaml")  # clause 1.1 targets participants: 50; 1.2 suggestions: 20
    with session_scope(db_url) as s:
        apply_plan(s, loaded, expand(loaded, CAL, 1000), TODAY, "tester", calendar_fingerprint(CAL))
        training, campaign = (
            s.execute(
                select(Occurrence.id)
                .join(ClauseRecord, ClauseRecord.id == Occurrence.clause_id)
                .where(ClauseRecord.code == code)
                .order_by(Occurrence.due_date)
                .limit(1)
            ).scalar_one()
            for code in ("1.1", "1.2")
        )
    # An explicit metric wins over the head count.
    record_report(
        db_url,
        CompletionReport(training, "渝北区/区委社会工作部", "partial", participants=9, metrics={"participants": 5}),
        "渝北区",
    )
    # `coop done 1 --department 渝北区/区委社会工作部 --participants 45`: no --metric participants=45 needed.
    record_report(db_url, CompletionReport(training, "渝北区/区委社会工作部", participants=45), "渝北区")
    # A clause without a participants target gains no metric it does not track.
    record_report(db_url, CompletionReport(campaign, "渝北区/区委社会工作部", participants=30), "渝北区")
    with session_scope(db_url) as s:
        assert reported_totals(s, training) == ({"participants": 50}, 2)
        assert reported_totals(s, campaign) == ({}, 1)
    with auditor_session(Settings(), db_url) as s:
        summary = summarise_states(occurrence_states(s, AuditFilter(), TODAY + dt.timedelta(days=400)), TODAY)
    [progress] = [p for p in summary.progress if p.clause == "1.1" and p.metric == "participants"]
    assert progress.reported == 50
