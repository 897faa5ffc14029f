"""What a department may read through its own link or API key (coop.store.access), against a real database."""

from __future__ import annotations

import datetime as dt

import pytest
from conftest import FIXTURES
from sqlalchemy import select

from coop.agreement.loader import load_agreement
from coop.calendar import WorkdayCalendar
from coop.errors import UnknownOccurrence
from coop.planning import calendar_fingerprint, expand
from coop.store.access import occurrence_for_department
from coop.store.occurrences import resolve_department
from coop.store.plans import apply_plan
from models.db import session_scope
from models.tables import Occurrence

CAL = WorkdayCalendar()


@pytest.fixture
def planned(db_url: str) -> dict[str, int]:
    loaded = load_agreement(FIXTURES / "small.yaml")
    with session_scope(db_url) as s:
        apply_plan(s, loaded, expand(loaded, CAL, 1000), dt.date(2025, 8, 1), "tester", calendar_fingerprint(CAL))
        return {o.key: o.id for o in s.execute(select(Occurrence)).scalars()}


def test_a_department_reads_its_own_task_and_gets_unknown_for_another_departments(
    db_url: str, planned: dict[str, int]
) -> None:
    oid = planned["1.1@2026-03-31"]  # 渝北区's task
    with session_scope(db_url) as s:
        yubei = resolve_department(s, "渝北区/区委社会工作部").id
        changshou = resolve_department(s, "长寿区/区委社会工作部").id
        assert yubei is not None and changshou is not None
        assert occurrence_for_department(s, yubei, oid).id == oid
        # the same answer as for an id that does not exist: a department must not learn what others owe
        with pytest.raises(UnknownOccurrence) as other:
            occurrence_for_department(s, changshou, oid)
        with pytest.raises(UnknownOccurrence) as missing:
            occurrence_for_department(s, changshou, 999_999)
    assert str(other.value) == f"找不到任务 #{oid} (unknown occurrence id {oid})"
    assert type(other.value) is type(missing.value)
