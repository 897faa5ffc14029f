"""Joint tasks (`sign_off: all`): each party reports its own part; done when every part is in; rates count parts."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from conftest import FIXTURES
from sqlalchemy import select

from coop.agreement.loader import load_agreement
from coop.audit import summarise_states
from coop.errors import CoopError, Forbidden, InvalidTransition, UnknownOccurrence
from coop.report import CompletionReport
from coop.services.links import department_link
from coop.services.planning import plan_agreement
from coop.services.reports import record_department_report, record_report
from coop.settings import Settings
from coop.store import access
from coop.store.audit import AuditFilter, occurrence_states
from coop.store.occurrences import resolve_department
from models.db import session_scope
from models.tables import LedgerEvent, Occurrence, Report

PLAN_DAY = dt.date(2026, 3, 1)
YUBEI = "渝北区/区委社会工作部"
TUANQUWEI = "渝北区/团区委"
CHANGSHOU = "长寿区/区委社会工作部"
GUANG_AN = "广安市/市委社会工作部"


def _settings(db_url: str) -> Settings:
    return Settings(database_url=db_url, secret_key="test-secret-key-for-links-0123456789")  # type: ignore[arg-type]


@pytest.fixture
def joint(db_url: str, tmp_path: Path) -> dict[str, int]:
    """small.yaml with clause 1.1 (lead 渝北区, co-organisers 长寿区 and 广安市) signed off by all."""
    text = (FIXTURES / "small.yaml").read_text(encoding="utf-8")
    marked = text.replace(
        "        co_organisers: [长寿区, 广安市]\n", "        co_organisers: [长寿区, 广安市]\n        sign_off: all\n"
    )
    assert marked != text
    path = tmp_path / "small.yaml"
    path.write_text(marked, encoding="utf-8")
    plan_agreement(db_url, path, PLAN_DAY, "测试", settings=_settings(db_url))
    with session_scope(db_url) as s:
        return {o.key: o.id for o in s.execute(select(Occurrence)).scalars() if o.id is not None}


def department_id(db_url: str, ref: str) -> int:
    with session_scope(db_url) as s:
        dept = resolve_department(s, ref, "test-small")
        assert dept.id is not None
        return dept.id


def status(db_url: str, oid: int) -> str:
    with session_scope(db_url) as s:
        occ = s.get(Occurrence, oid)
        assert occ is not None
        return str(occ.status)


def test_the_task_is_done_only_when_every_party_has_reported_its_part(
    db_url: str, joint: dict[str, int], tmp_path: Path
) -> None:
    oid = joint["1.1@2026-06-30"]
    record_report(db_url, CompletionReport(oid, YUBEI, "done", participants=30), YUBEI)
    assert status(db_url, oid) != "done"

    # 长寿区 reports its part with its own department token (its own department id), not the lead's.
    changshou = department_id(db_url, CHANGSHOU)
    seen = record_department_report(
        db_url,
        changshou,
        CompletionReport(oid, str(changshou), "done", participants=25, evidence=["https://example.org/cs.pdf"]),
        CHANGSHOU,
        [],
        tmp_path,
    )
    assert seen.occurrence.parts == {"渝北区": True, "长寿区": True, "广安市": False}
    assert seen.occurrence.part_done is True and seen.occurrence.status != "done"
    with pytest.raises(InvalidTransition, match="长寿区的部分已报告完成"):
        record_report(db_url, CompletionReport(oid, CHANGSHOU, "done"), CHANGSHOU)
    # A department of the responsible party other than the responsible one has no part of its own.
    with pytest.raises(Forbidden, match="属于另一个部门"):
        record_report(db_url, CompletionReport(oid, TUANQUWEI, "done"), TUANQUWEI)

    # 广安市 sees the task in its own list and gets its own link to it; its part completes the task.
    guang_an = department_id(db_url, GUANG_AN)
    with session_scope(db_url) as s:
        listed = {o.id: o for o in access.occurrences_for_department(s, guang_an)}
    assert oid in listed and listed[oid].part_done is False
    assert department_link(db_url, _settings(db_url), GUANG_AN, oid).department_id == guang_an
    record_report(db_url, CompletionReport(oid, GUANG_AN, "done", participants=20), GUANG_AN)
    assert status(db_url, oid) == "done"

    with session_scope(db_url) as s:
        kinds = [e.kind for e in s.execute(select(LedgerEvent).where(LedgerEvent.occurrence_id == oid)).scalars()]
        last = json.loads(s.execute(select(LedgerEvent).order_by(LedgerEvent.id.desc())).scalars().first().payload)  # type: ignore[union-attr]
        parties = sorted(r.party_id for r in s.execute(select(Report).where(Report.occurrence_id == oid)).scalars())
    assert kinds == ["occurrence_part_done", "occurrence_part_done", "occurrence_done"]
    assert (last["part"], last["parts_done"]) == ("广安市", ["广安市", "渝北区", "长寿区"])
    assert len(set(parties)) == 3 and None not in parties


def test_a_lead_only_clause_keeps_its_old_rule(db_url: str, joint: dict[str, int]) -> None:
    oid = joint["6.1@2026-03-10"]
    with session_scope(db_url) as s, pytest.raises(UnknownOccurrence):
        access.occurrence_for_department(s, department_id(db_url, GUANG_AN), oid)
    record_report(db_url, CompletionReport(oid, TUANQUWEI, "done"), TUANQUWEI)
    assert status(db_url, oid) == "done"
    with session_scope(db_url) as s:
        [report] = s.execute(select(Report).where(Report.occurrence_id == oid)).scalars()
        [event] = s.execute(select(LedgerEvent).where(LedgerEvent.occurrence_id == oid)).scalars()
    assert report.party_id is None and event.kind == "occurrence_done" and "part" not in json.loads(event.payload)


def test_rates_count_each_partys_part(db_url: str, joint: dict[str, int]) -> None:
    oid = joint["1.1@2026-03-31"]
    record_report(db_url, CompletionReport(oid, YUBEI, "done"), YUBEI)
    record_report(db_url, CompletionReport(oid, CHANGSHOU, "done"), CHANGSHOU)
    # Reports count from the moment they were made (the real clock), so audit the day after today.
    as_of = dt.date.today() + dt.timedelta(days=1)
    with session_scope(db_url) as s:
        states = list(occurrence_states(s, AuditFilter(clause="1.1"), as_of, from_ledger=False))
    state = next(st for st in states if st.id == oid)
    assert (state.status, state.parts_required, state.parts_done) == ("overdue", 3, 2)
    summary = summarise_states([state], as_of)
    assert (summary.overall.expected, summary.overall.done, summary.overall.overdue) == (1, 0, 1)
    assert (summary.overall.parts_expected, summary.overall.parts_done) == (3, 2)
    assert summary.overall.part_rate == pytest.approx(0.6667)


def test_sign_off_all_needs_co_organisers(tmp_path: Path) -> None:
    text = (FIXTURES / "small.yaml").read_text(encoding="utf-8")
    bad = text.replace("        kind: patrol\n", "        kind: patrol\n        sign_off: all\n")
    path = tmp_path / "bad.yaml"
    path.write_text(bad, encoding="utf-8")
    with pytest.raises(CoopError, match="sign_off: all 需要 co_organisers"):
        load_agreement(path)
