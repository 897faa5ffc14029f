"""Upgrading a 0005 database to party identities (0007) keeps every row, and shared history stays shared.

Before 0007 a party was whoever had its short name, so two agreements naming 省委社会工作部 wrote into one
party. The old database is filled that way (rows written by the application at head, where both agreements
name one `id:`, copied into the 0005 schema), upgraded, and compared row for row.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from reliability.scenario import CAL, decide, verify_ledger
from reliability.test_upgrade_keeps_data import _contents, _copy_into_old_schema, empty_url  # noqa: F401
from sqlalchemy import inspect, select, text

from coop.agreement.loader import LoadedAgreement, parse_agreement
from coop.planning import PlanResult, calendar_fingerprint, expand
from coop.report import CompletionReport
from coop.services.schema import upgrade
from coop.store.occurrences import record_completion, sweep
from coop.store.parties import agreement_departments
from coop.store.plans import apply_plan
from models.db import get_engine, session_scope
from models.tables import Agency, AgreementParty

DAY = dt.date(2026, 3, 20)


def agreement(agreement_id: str, swd_id: str | None, channel: str) -> str:
    id_line = f"\n    id: {swd_id}" if swd_id else ""
    return f"""
id: {agreement_id}
title: 协议 {agreement_id}
signed: 2026-01-05
term: {{start: 2026-01-05, end: 2026-12-31}}
parties:
  - name: 省委社会工作部{id_line}
    coordinator: 综合处
    departments:
      - name: 综合处
        channels: [{channel}]
  - name: {agreement_id}大学
    coordinator: 社会工作学院
    departments:
      - name: 社会工作学院
programmes:
  - id: "1"
    title: 联建
    clauses:
      - id: "1.1"
        title: 月度会商
        kind: meeting
        responsible: {{each_party: true}}
        recurrence: {{every: month}}
"""


def plan(url: str, loaded: LoadedAgreement, today: dt.date = DAY) -> PlanResult:
    with session_scope(url) as s:
        return apply_plan(s, loaded, expand(loaded, CAL, 1000), today, "tester", calendar_fingerprint(CAL))


def _write_history(url: str) -> None:
    """Two agreements that (as before 0007) share one 省委社会工作部, reports, a sweep and notices."""
    plan(url, parse_agreement(agreement("aa", "legacy/swd", "aa-swd"), "aa.yaml"))
    plan(url, parse_agreement(agreement("bb", "legacy/swd", "bb-swd"), "bb.yaml"))
    with session_scope(url) as s:
        for agreement_id in ("aa", "bb"):
            oid, did = s.execute(
                text(
                    "SELECT o.id, o.department_id FROM occurrence o WHERE o.agreement_id = :a"
                    " AND o.status IN ('due', 'overdue') ORDER BY o.due_date, o.id LIMIT 1"
                ),
                {"a": agreement_id},
            ).one()
            record_completion(s, CompletionReport(oid, str(did), participants=5, note="已完成"), "联络员")
        sweep(s, DAY, "sweeper")
    decide(url, DAY)


def test_upgrade_from_0005_gives_parties_keys_and_keeps_every_row(tmp_path: Path, empty_url: str) -> None:  # noqa: F811
    scratch = f"sqlite:///{tmp_path / 'scratch.db'}"
    upgrade(scratch)
    _write_history(scratch)
    upgrade(empty_url, "0005")
    copied = _copy_into_old_schema(scratch, empty_url)
    assert "agreement_party" not in copied and {"occurrence", "report", "notice", "ledger_event"} <= set(copied)
    old_columns = {t: [c["name"] for c in inspect(get_engine(empty_url)).get_columns(t)] for t in copied}
    events = verify_ledger(empty_url).events

    upgrade(empty_url)

    for table, columns in old_columns.items():
        assert _contents(empty_url, table, columns) == _contents(scratch, table, columns), f"{table} changed"
    assert verify_ledger(empty_url).ok and verify_ledger(empty_url).events == events
    with session_scope(empty_url) as s:
        keys = dict(s.execute(select(Agency.name, Agency.key)).all())
        # Shared by two agreements: stays one party with a generated key; each university is its agreement's own.
        assert keys == {"省委社会工作部": "legacy:省委社会工作部", "aa大学": "aa:aa大学", "bb大学": "bb:bb大学"}
        links = s.execute(select(AgreementParty.agreement_id, AgreementParty.name)).all()
        assert sorted(links) == [("aa", "aa大学"), ("aa", "省委社会工作部"), ("bb", "bb大学"), ("bb", "省委社会工作部")]
        shared = agreement_departments(s)
        assert shared[("aa", "省委社会工作部", "综合处")] == shared[("bb", "省委社会工作部", "综合处")]

    # Re-planning an unchanged file is a no-op; a file that now declares the party only for itself keeps the
    # shared history linked (no new party, no task moved), and new work chains onto the old ledger.
    assert plan(empty_url, parse_agreement(agreement("aa", "legacy/swd", "aa-swd"), "aa.yaml")).unchanged
    result = plan(empty_url, parse_agreement(agreement("aa", None, "aa-swd-2"), "aa.yaml"), DAY + dt.timedelta(1))
    assert (result.created, result.updated, result.cancelled) == (0, 0, 0)
    with session_scope(empty_url) as s:
        assert s.execute(select(Agency.key).where(Agency.name == "省委社会工作部")).scalars().all() == [
            "legacy:省委社会工作部"
        ]
    # Naming an organisation id gives the shared party that id; the other agreement's future tasks then get a
    # party of their own, while their past stays with the history they wrote.
    plan(empty_url, parse_agreement(agreement("aa", "jilin/swd", "aa-swd-2"), "aa.yaml"), DAY + dt.timedelta(2))
    moved = plan(empty_url, parse_agreement(agreement("bb", "hunan/swd", "bb-swd-2"), "bb.yaml"), DAY + dt.timedelta(2))
    assert moved.updated > 0 and moved.created == moved.cancelled == 0
    with session_scope(empty_url) as s:
        assert sorted(s.execute(select(Agency.key).where(Agency.name == "省委社会工作部")).scalars()) == [
            "hunan/swd",
            "jilin/swd",
        ]
        depts = agreement_departments(s)
        aa, bb = depts[("aa", "省委社会工作部", "综合处")], depts[("bb", "省委社会工作部", "综合处")]
        assert aa != bb
        owners = s.execute(
            text("SELECT DISTINCT department_id FROM occurrence WHERE agreement_id = 'bb' AND due_date >= :d"),
            {"d": DAY + dt.timedelta(2)},
        ).scalars()
        assert aa not in set(owners)
        # bb's report, made when the party was shared, still names the department it was made by.
        reported = (
            s.execute(
                text(
                    "SELECT r.department_id FROM report r JOIN occurrence o ON o.id = r.occurrence_id"
                    " WHERE o.agreement_id = 'bb'"
                )
            )
            .scalars()
            .all()
        )
        assert reported == [aa]
    assert verify_ledger(empty_url).ok
