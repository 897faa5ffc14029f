"""Audit queries on a real database with a controlled clock: rates, progress, history, and states on past days."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from conftest import FIXTURES
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from coop.agreement.loader import load_agreement
from coop.audit import summarise_states
from coop.calendar import WorkdayCalendar
from coop.clock import today_in_shanghai
from coop.errors import CoopError, UnknownOccurrence
from coop.planning import calendar_fingerprint, expand
from coop.report import CompletionReport
from coop.services.audit import auditor_session
from coop.settings import Settings
from coop.store import audit
from coop.store.audit import AuditFilter, clause_history, occurrence_history, occurrence_states
from coop.store.occurrences import cancel, record_completion, sweep, waive
from coop.store.plans import apply_plan
from models.db import session_scope
from models.tables import Agency, Occurrence

SHANGHAI = ZoneInfo("Asia/Shanghai")
CAL = WorkdayCalendar()
YUBEI = "渝北区/区委社会工作部"
CHANGSHOU = "长寿区/区委社会工作部"
GUANGAN = "广安市/市委社会工作部"
TUANQUWEI = "渝北区/团区委"


class Clock:
    """The one clock every store module reads, set by the test so ledger events carry chosen times."""

    def __init__(self) -> None:
        self.now = dt.datetime(2025, 9, 1, 2, 0, tzinfo=dt.UTC)

    def at(self, day: str, hour: int = 10) -> None:
        self.now = dt.datetime.combine(dt.date.fromisoformat(day), dt.time(hour), SHANGHAI).astimezone(dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now


def _amended(tmp_path: Path) -> Path:
    """Version 2: clause 1.2 moves to the previous working day, and a new clause 1.3 for 长寿区."""
    source = (FIXTURES / "small.yaml").read_text(encoding="utf-8")
    source = source.replace(
        "recurrence: {once: 2025-10-01, adjust: next}", "recurrence: {once: 2025-10-01, adjust: previous}"
    )
    source = source.replace(
        '  - id: "6"\n',
        "      - id: 1.3\n        title: 调研报告\n        kind: research\n        responsible: {party: 长寿区}\n"
        "        recurrence: {once: 2026-05-01}\n        targets: {reports: 2}\n"
        '  - id: "6"\n',
    )
    path = tmp_path / "small-v2.yaml"
    path.write_text(source, encoding="utf-8")
    return path


@pytest.fixture
def history(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """A year of an agreement's life, every event stamped by the test clock."""
    clock = Clock()
    for module in ("coop.store.ledger", "coop.store.occurrences", "coop.store.plans"):
        monkeypatch.setattr(f"{module}.utcnow", clock)
    monkeypatch.setattr(audit, "BATCH", 3)  # several fetches per stream, interleaved
    v1, v2 = load_agreement(FIXTURES / "small.yaml"), load_agreement(_amended(tmp_path))

    def step(day: str, action) -> None:  # type: ignore[no-untyped-def]
        clock.at(day)
        with session_scope(db_url) as s:
            action(s)

    step(
        "2025-09-01",
        lambda s: apply_plan(s, v1, expand(v1, CAL, 1000), dt.date(2025, 9, 1), "协调人", calendar_fingerprint(CAL)),
    )
    step(
        "2025-09-20",
        lambda s: apply_plan(s, v2, expand(v2, CAL, 1000), dt.date(2025, 9, 20), "协调人", calendar_fingerprint(CAL)),
    )
    with session_scope(db_url) as s:
        ids = {o.key: o.id for o in s.execute(select(Occurrence)).scalars()}
    step("2025-09-25", lambda s: sweep(s, dt.date(2025, 9, 25), "系统"))
    step(
        "2025-09-25",
        lambda s: record_completion(
            s, CompletionReport(ids["6.1@2025-09-10"], TUANQUWEI, evidence=["https://x.cn/1.jpg"]), TUANQUWEI
        ),
    )
    step(
        "2025-09-28",
        lambda s: record_completion(
            s, CompletionReport(ids["1.1@2025-09-30"], YUBEI, participants=48, metrics={"participants": 48}), YUBEI
        ),
    )
    step("2025-10-05", lambda s: waive(s, ids["1.2@2025-10-01/广安市"], "已并入市级活动", "协调人"))
    step(
        "2025-10-20",
        lambda s: record_completion(
            s,
            CompletionReport(ids["1.2@2025-10-01/长寿区"], CHANGSHOU, "partial", metrics={"suggestions": 5}),
            CHANGSHOU,
        ),
    )
    step(
        "2026-01-05",
        lambda s: record_completion(
            s, CompletionReport(ids["1.2@2025-10-01/渝北区"], YUBEI, metrics={"suggestions": 20}), YUBEI
        ),
    )
    step("2026-02-01", lambda s: cancel(s, ids["1.3@2026-05-01"], "调研计划取消", "协调人"))
    return ids


def states(
    db_url: str, day: str, from_ledger: bool = True, flt: AuditFilter | None = None
) -> dict[int, audit.OccurrenceState]:
    with auditor_session(Settings(), db_url) as s:
        return {
            st.id: st
            for st in occurrence_states(s, flt or AuditFilter(), dt.date.fromisoformat(day), from_ledger=from_ledger)
        }


def test_nothing_existed_before_the_first_plan(db_url: str, history: dict[str, int]) -> None:
    assert states(db_url, "2025-08-31") == {}


def test_state_before_the_amendment_uses_the_old_due_dates_and_clauses(db_url: str, history: dict[str, int]) -> None:
    before = states(db_url, "2025-09-15")
    assert len(before) == 15 and history["1.3@2026-05-01"] not in before
    changshou = before[history["1.2@2025-10-01/长寿区"]]
    assert changshou.due_date == dt.date(2025, 10, 9) and changshou.status == "planned"
    assert before[history["6.1@2025-09-10"]].status == "overdue"
    assert before[history["1.1@2025-09-30"]].status == "due"
    after = states(db_url, "2025-09-26")
    assert len(after) == 16
    assert after[history["1.2@2025-10-01/长寿区"]].due_date == dt.date(2025, 9, 30)
    late = after[history["6.1@2025-09-10"]]
    assert (late.status, late.completed_on, late.on_time) == ("done", dt.date(2025, 9, 25), False)


def test_rates_on_a_past_day(db_url: str, history: dict[str, int]) -> None:
    day = dt.date(2025, 10, 10)
    summary = summarise_states(states(db_url, str(day)).values(), day, "department")
    o = summary.overall
    # Expected by 10-10: 6.1@09-10, 1.1@09-30, 1.2 长寿区 and 渝北区 (广安市 waived).
    assert (o.total, o.expected, o.done, o.on_time, o.overdue, o.waived) == (16, 4, 2, 1, 2, 1)
    assert o.completion_rate == 0.5 and o.on_time_rate == 0.25
    by = {g.group: g for g in summary.groups}
    assert by[YUBEI].overdue == 1 and by[CHANGSHOU].overdue == 1 and by[TUANQUWEI].done == 1
    assert [i.occurrence_id for i in summary.overdue] == sorted(
        [history["1.2@2025-10-01/渝北区"], history["1.2@2025-10-01/长寿区"]]
    )
    # Working days, as the escalations count them: 10-01…10-08 is the National Day holiday, so 09-30 → 10-10 is 2.
    assert all(i.days_overdue == 2 for i in summary.overdue)


def test_progress_counts_reports_up_to_the_day(db_url: str, history: dict[str, int]) -> None:
    def suggestions(day: str) -> tuple[int, int]:
        summary = summarise_states(states(db_url, day).values(), dt.date.fromisoformat(day))
        [row] = [p for p in summary.progress if p.metric == "suggestions"]
        return row.reported, row.target

    assert suggestions("2025-10-19") == (0, 40)  # 广安市 waived: its 20 no longer owed
    assert suggestions("2025-10-20") == (5, 40)
    assert suggestions("2026-01-05") == (25, 40)
    summary = summarise_states(states(db_url, "2026-01-05").values(), dt.date(2026, 1, 5))
    [participants] = [p for p in summary.progress if p.metric == "participants"]
    assert (participants.reported, participants.target, participants.ratio) == (48, 400, 0.12)


def test_cancellation_shows_from_its_day_on(db_url: str, history: dict[str, int]) -> None:
    oid = history["1.3@2026-05-01"]
    assert states(db_url, "2026-01-31")[oid].status == "planned"
    assert states(db_url, "2026-02-01")[oid].status == "cancelled"


def test_today_from_the_ledger_equals_the_stored_state(db_url: str, history: dict[str, int]) -> None:
    today = str(today_in_shanghai())
    rebuilt, stored = states(db_url, today, True), states(db_url, today, False)
    assert rebuilt == stored and len(stored) == 16


def test_filters(db_url: str, history: dict[str, int]) -> None:
    assert set(states(db_url, "2026-01-05", flt=AuditFilter(party="长寿区"))) == {
        history["1.2@2025-10-01/长寿区"],
        history["1.3@2026-05-01"],
    }
    assert set(states(db_url, "2026-01-05", flt=AuditFilter(department=TUANQUWEI))) == {
        v for k, v in history.items() if k.startswith("6.1")
    }
    assert (
        len(
            states(
                db_url,
                "2026-01-05",
                flt=AuditFilter(programme="1", due_from=dt.date(2026, 1, 1), due_to=dt.date(2026, 12, 31)),
            )
        )
        == 5
    )
    assert len(states(db_url, "2026-01-05", flt=AuditFilter(clause="1.2", agreement="test-small"))) == 3
    assert states(db_url, "2026-01-05", flt=AuditFilter(department="99999999999999")) == {}


def test_occurrence_history_has_plan_replan_sweep_and_report_with_evidence(
    db_url: str, history: dict[str, int]
) -> None:
    with auditor_session(Settings(), db_url) as s:
        yubei = occurrence_history(s, history["1.2@2025-10-01/渝北区"])
        patrol = occurrence_history(s, history["6.1@2025-09-10"])
        new = occurrence_history(s, history["1.3@2026-05-01"])
        early = occurrence_history(s, history["1.2@2025-10-01/渝北区"], as_of=dt.date(2025, 9, 30))
        with pytest.raises(UnknownOccurrence):
            occurrence_history(s, 987654)
    assert [e.kind for e in yubei.events] == [
        "agreement_planned",
        "occurrence_replanned",
        "sweep_due",
        "occurrence_done",
    ]
    assert yubei.events[0].payload["version"] == 1 and yubei.events[-1].actor == YUBEI
    assert yubei.events[-1].at.astimezone(SHANGHAI).date() == dt.date(2026, 1, 5)
    # each plan brings statuses up to date as of its day: due at the 09-01 plan, overdue at the 09-20 re-plan
    assert [e.kind for e in patrol.events] == ["agreement_planned", "sweep_due", "sweep_overdue", "occurrence_done"]
    assert patrol.events[-1].evidence == ["https://x.cn/1.jpg"]
    assert [e.kind for e in new.events] == ["agreement_planned", "occurrence_cancelled"] and new.events[0].payload[
        "version"
    ] == 2
    assert [e.kind for e in early.events] == ["agreement_planned", "occurrence_replanned", "sweep_due"]


def test_clause_history(db_url: str, history: dict[str, int]) -> None:
    with auditor_session(Settings(), db_url) as s:
        result = clause_history(s, "test-small", "1.2")
        with pytest.raises(CoopError):
            clause_history(s, "test-small", "9.9")
    kinds = [e.kind for e in result.events]
    assert kinds == [
        "agreement_planned",
        "agreement_planned",
        *["occurrence_replanned"] * 3,
        "sweep_due",
        "occurrence_waived",
        "occurrence_progress",
        "occurrence_done",
    ]
    assert sorted(result.events[5].payload["occurrence_ids"]) == sorted(
        v for k, v in history.items() if k.startswith("1.2@")
    )
    assert result.occurrences == 3 and result.targets == {"suggestions": 20}
    assert json.dumps([e.payload for e in result.events], ensure_ascii=False).count("已并入市级活动") == 1


def test_auditor_connection_cannot_write(db_url: str, history: dict[str, int]) -> None:
    with pytest.raises(DBAPIError) as refused, auditor_session(Settings(), db_url) as s:
        s.add(Agency(key="test:篡改者", name="篡改者"))
        s.flush()
    expected = "read-only transaction" if db_url.startswith("postgresql") else "readonly database"
    assert expected in str(refused.value)
    if db_url.startswith("postgresql"):
        with auditor_session(Settings(), db_url) as s:
            assert s.execute(text("select current_user")).scalar_one() == "coop_auditor"
        # Even after leaving the read-only transaction mode, the role itself has no write privilege.
        with pytest.raises(DBAPIError, match="permission denied"), auditor_session(Settings(), db_url) as s:
            s.execute(text("SET TRANSACTION READ WRITE"))
            s.execute(text("UPDATE occurrence SET status = 'done'"))
    with session_scope(db_url) as s:
        assert s.execute(select(Agency).where(Agency.name == "篡改者")).first() is None


def test_dedicated_auditor_url_setting_is_used_as_given(db_url: str, history: dict[str, int]) -> None:
    settings = Settings(database_url="sqlite:////nonexistent/never.db", auditor_database_url=db_url)
    with auditor_session(settings) as s:
        assert len(list(occurrence_states(s, AuditFilter(), dt.date(2026, 1, 5)))) == 16
