"""Expansion details: who owes each occurrence, its key, its window and place, the errors at the clause's line,
which amendment sets the effective date, and what the schedule fingerprint is made of."""

from __future__ import annotations

import datetime as dt
import hashlib
from importlib.metadata import version
from pathlib import Path

import pytest
from conftest import FIXTURES

from coop.agreement.loader import LoadedAgreement, parse_agreement
from coop.agreement.schema import Amendment
from coop.calendar import SeasonCalendar, WorkdayCalendar
from coop.errors import AgreementError
from coop.planning import PlannedOccurrence, effective_date, expand, schedule_fingerprint
from coop.seasons import RegionalSeasons

CAL = WorkdayCalendar()
SOURCE = (FIXTURES / "small.yaml").read_text(encoding="utf-8")
D = dt.date
PLACES = {"渝北区": "渝北区民政局会议室", "长寿区": "长寿区委党校", "广安市": "广安市委党校"}


def load(*changes: tuple[str, str], extra: str = "") -> LoadedAgreement:
    text = SOURCE
    for old, new in changes:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    return parse_agreement(text + extra, "x.yaml")


def of(loaded: LoadedAgreement, clause: str, limit: int = 1000) -> list[PlannedOccurrence]:
    return [p for p in expand(loaded, CAL, limit) if p.clause == clause]


def test_a_single_owner_is_the_responsible_party_through_its_department_or_coordinator() -> None:
    small = load()
    assert {(p.party, p.department) for p in of(small, "1.1")} == {("渝北区", "区委社会工作部")}
    assert {(p.party, p.department) for p in of(small, "6.1")} == {("渝北区", "团区委")}
    assert all("/" not in p.key for p in of(small, "1.1"))
    guang_an = load(("responsible: {party: 渝北区, department: 团区委}", "responsible: {party: 广安市}"))
    assert {(p.party, p.department) for p in of(guang_an, "6.1")} == {("广安市", "市委社会工作部")}


def test_each_of_two_parties_gets_its_own_keyed_occurrence() -> None:
    two = load(
        ("  - name: 广安市\n    coordinator: 市委社会工作部\n    departments:\n      - name: 市委社会工作部\n", ""),
        ("co_organisers: [长寿区, 广安市]", "co_organisers: [长寿区]"),
        ("rotate: [渝北区, 长寿区, 广安市]", "rotate: [渝北区, 长寿区]"),
    )
    assert [(p.key, p.party) for p in of(two, "1.2")] == [
        ("1.2@2025-10-01/渝北区", "渝北区"),
        ("1.2@2025-10-01/长寿区", "长寿区"),
    ]


def test_the_window_opens_window_days_before_the_due_date_but_not_before_the_term() -> None:
    small = load()
    quarterly = of(small, "1.1")
    assert quarterly[0].due_date == D(2025, 9, 30)
    assert all(p.window_start == p.due_date - dt.timedelta(days=20) for p in quarterly)
    # a deadline is open from the term's first day
    [by_deadline] = of(load(("once: 2025-10-01, adjust: next", "deadline: 2026-06-30")), "1.2")[:1]
    assert (by_deadline.window_start, by_deadline.due_date) == (D(2025, 9, 1), D(2026, 6, 30))
    # a first day that is a Sunday moved back before the term: the window cannot open after the due date
    early = load(
        ("signed: 2025-09-01", "signed: 2025-08-29"),
        ("  start: 2025-09-01", "  start: 2025-08-31"),
        ("once: 2025-10-01, adjust: next", "once: 2025-08-31, adjust: previous"),
    )
    first = of(early, "1.2")[0]
    assert (first.due_date, first.window_start) == (D(2025, 8, 29), D(2025, 8, 29))


_ROUNDS = """
  - id: "8"
    title: 轮值活动
    clauses:
      - id: 8.1
        title: 轮流承办的培训
        kind: training
        responsible: {party: 渝北区}
        rotate: [长寿区, 广安市]
        location_from_host: true
        recurrence: {every: half_year}
      - id: 8.2
        title: 轮流负责的会议
        kind: meeting
        responsible: {from_host: true}
        rotate: [广安市, 渝北区]
        recurrence: {every: half_year}
"""


def test_the_place_comes_from_the_host_only_where_the_clause_says_so() -> None:
    text = SOURCE
    for party, place in PLACES.items():
        text = text.replace(f"  - name: {party}\n", f"  - name: {party}\n    location: {place}\n", 1)
    loaded = parse_agreement(text + _ROUNDS, "x.yaml")
    planned = expand(loaded, CAL, 1000)
    # the responsible party owes it, at each host's place
    assert [(p.host, p.party, p.location) for p in planned if p.clause == "8.1"][:2] == [
        ("长寿区", "渝北区", "长寿区委党校"),
        ("广安市", "渝北区", "广安市委党校"),
    ]
    # a hand-over without location_from_host: the host owes it, and no place is set
    assert [(p.host, p.party, p.department, p.location) for p in planned if p.clause == "8.2"][:2] == [
        ("广安市", "广安市", "市委社会工作部", None),
        ("渝北区", "渝北区", "区委社会工作部", None),
    ]
    assert {p.location for p in planned if p.clause in ("1.1", "1.2", "6.1")} == {None}
    assert all(p.key == f"8.2@{p.nominal_date}" and p.programme == "8" for p in planned if p.clause == "8.2")


def test_a_clause_over_the_limit_is_refused_at_its_line() -> None:
    small = load()
    with pytest.raises(AgreementError) as exc:
        expand(small, CAL, 2)
    [problem] = exc.value.problems
    assert (problem.file, problem.line) == ("x.yaml", small.clause_lines["1.1"])
    assert problem.message.startswith("clause 1.1: 'recurrence': ")


def test_a_rule_without_a_date_in_the_term_is_refused_whole() -> None:
    loaded = load(('"FREQ=MONTHLY;INTERVAL=6;BYMONTHDAY=10"', '"FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30"'))
    with pytest.raises(AgreementError) as exc:
        expand(loaded, CAL, 1000)
    rule = next(c for p in loaded.agreement.programmes for c in p.clauses if c.id == "6.1").recurrence.describe()
    assert str(exc.value) == (
        f"x.yaml:{loaded.clause_lines['6.1']}: clause 6.1: 'recurrence'（{rule}）在协议期 2025-09-01 – 2027-08-31 内"
        "没有任何日期；请检查规则 (yields no date within the term)"
    )


def test_an_amendment_dated_today_is_in_force_today() -> None:
    earlier = Amendment(date=D(2026, 2, 1), ref="补充协议（一）")
    today = Amendment(date=D(2026, 5, 1), ref="补充协议（二）")
    assert effective_date([earlier, today], set(), D(2026, 5, 1)) == (today.date, today)


def test_of_several_amendments_still_to_come_the_earliest_sets_the_date() -> None:
    later = Amendment(date=D(2026, 9, 1), ref="补充协议（三）")
    sooner = Amendment(date=D(2026, 7, 1), ref="补充协议（二）")
    assert effective_date([later, sooner], set(), D(2026, 5, 1)) == (sooner.date, sooner)


def test_the_schedule_fingerprint_covers_the_lunar_library_and_the_season_file_it_uses(tmp_path: Path) -> None:
    """Changing how it is computed re-plans every festival or season agreement once, so the formula is pinned."""
    lunar = f"lunardate {version('lunardate')}|".encode()
    table = tmp_path / "seasons.yaml"
    table.write_text("seasons:\n  summer_vacation: {start: '07-01', end: '08-31'}\n", encoding="utf-8")
    seasons = SeasonCalendar(table)
    festival = load(('rrule: "FREQ=MONTHLY;INTERVAL=6;BYMONTHDAY=10", adjust: next', "anchor: national_day"))
    assert schedule_fingerprint(festival, seasons) == ":" + hashlib.sha256(lunar).hexdigest()[:16]
    season = load(('rrule: "FREQ=MONTHLY;INTERVAL=6;BYMONTHDAY=10", adjust: next', "season: summer_vacation"))
    with_table = ":" + hashlib.sha256(lunar + table.read_bytes()).hexdigest()[:16]
    assert schedule_fingerprint(season, seasons) == with_table
    table.unlink()  # gone after start-up: the library alone
    assert schedule_fingerprint(season, seasons) == ":" + hashlib.sha256(lunar).hexdigest()[:16]


def test_the_schedule_fingerprint_adds_the_region_files_an_agreement_uses(tmp_path: Path) -> None:
    """A regional table counts only for the regions the agreement names, read when the fingerprint is taken."""
    lunar = f"lunardate {version('lunardate')}|".encode()
    national = tmp_path / "seasons.yaml"
    national.write_text("seasons:\n  summer_vacation: {start: '07-10', end: '08-31'}\n", encoding="utf-8")
    folder = tmp_path / "regions"
    folder.mkdir()
    sichuan = folder / "四川.yaml"
    sichuan.write_text("seasons:\n  summer_vacation: {start: '07-05', end: '08-31'}\n", encoding="utf-8")
    (folder / "吉林.yaml").write_text("seasons:\n  summer_vacation: {start: '07-15', end: '08-20'}\n", encoding="utf-8")
    regional = RegionalSeasons(national, folder)
    loaded = load(
        ('rrule: "FREQ=MONTHLY;INTERVAL=6;BYMONTHDAY=10", adjust: next', "season: summer_vacation, region: 四川")
    )
    national_only = ":" + hashlib.sha256(lunar + national.read_bytes()).hexdigest()[:16]
    assert schedule_fingerprint(loaded, regional) == (
        ":" + hashlib.sha256(lunar + national.read_bytes() + "|四川|".encode() + sichuan.read_bytes()).hexdigest()[:16]
    )
    assert schedule_fingerprint(loaded, SeasonCalendar(national)) == national_only  # no regional tables here
    sichuan.unlink()  # gone after start-up: the national table alone
    assert schedule_fingerprint(loaded, regional) == national_only
