"""寒假 / 暑假 per province (coop.seasons): the packaged regional tables, fallback to the national one, the
`region:` key of a season schedule, and a plan that follows a province's table on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import chinese_calendar
import pytest
from conftest import FIXTURES
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from sqlalchemy import select

from coop.agreement.loader import load_agreement
from coop.agreement.schema import Recurrence, Term
from coop.calendar import SeasonCalendar, WorkdayCalendar, festival_date
from coop.errors import AgreementError
from coop.planning import expand, schedule_fingerprint
from coop.recurrence import scheduled_dates
from coop.seasons import DEFAULT_REGIONS, RegionalSeasons, regional_seasons
from coop.services.planning import plan_agreement
from coop.settings import Settings
from models.db import session_scope
from models.tables import Occurrence

CAL = WorkdayCalendar()
SEASONS = regional_seasons()
REGIONS = ("重庆", "四川")
NAMES = ("winter_vacation", "summer_vacation")


def _official_spring_festival(year: int) -> list[dt.date]:
    """The State Council's 春节 holiday days of `year` (chinese_calendar's official data)."""
    first = festival_date("spring_festival", year) - dt.timedelta(days=10)
    days = (first + dt.timedelta(days=n) for n in range(25))
    return [
        d for d in days if chinese_calendar.get_holiday_detail(d)[1] == chinese_calendar.Holiday.spring_festival.value
    ]


def test_the_packaged_regions_are_shipped_defaults() -> None:
    assert sorted(SEASONS.regions) == sorted(REGIONS)
    assert SEASONS.shipped_default and all(t.shipped_default for t in SEASONS.regions.values())
    assert all(t.path.parent == DEFAULT_REGIONS for t in SEASONS.regions.values())
    assert all(sorted(t.names) == sorted(NAMES) for t in SEASONS.regions.values())


@pytest.mark.parametrize(
    ("region", "name", "year", "start", "end"),
    [
        # 2025 春节 01-29, 2026 春节 02-17; the rules are in coop/data/seasons/<地区>.yaml.
        (None, "winter_vacation", 2025, "2025-01-08", "2025-02-15"),
        ("重庆", "winter_vacation", 2025, "2025-01-11", "2025-02-16"),
        ("四川", "winter_vacation", 2025, "2025-01-14", "2025-02-15"),
        ("重庆", "winter_vacation", 2026, "2026-01-30", "2026-03-07"),
        ("四川", "winter_vacation", 2026, "2026-02-02", "2026-03-06"),
        (None, "summer_vacation", 2026, "2026-07-10", "2026-08-31"),
        ("重庆", "summer_vacation", 2026, "2026-07-05", "2026-08-31"),
        ("四川", "summer_vacation", 2026, "2026-07-08", "2026-08-31"),
    ],
)
def test_each_region_has_its_own_dates(region: str | None, name: str, year: int, start: str, end: str) -> None:
    season = SEASONS.season(name, year, region)
    assert (season.name, str(season.start), str(season.end), season.provisional) == (name, start, end, True)


@settings(deadline=None, max_examples=60)
@given(year=st.integers(2018, 2026), region=st.sampled_from([None, *REGIONS]))
def test_every_winter_vacation_holds_the_official_spring_festival_holiday(year: int, region: str | None) -> None:
    winter = SEASONS.season("winter_vacation", year, region)
    summer = SEASONS.season("summer_vacation", year, region)
    holiday = _official_spring_festival(year)
    assert len(holiday) >= 3
    assert winter.start <= min(holiday) and max(holiday) <= winter.end
    assert 21 <= (winter.end - winter.start).days <= 45
    assert winter.end < summer.start < summer.end and summer.start.year == summer.end.year == year
    assert winter.provisional and summer.provisional  # every packaged table is a shipped default


def _folder(tmp_path: Path, **files: str) -> Path:
    folder = tmp_path / "regions"
    folder.mkdir()
    for region, text in files.items():
        (folder / f"{region}.yaml").write_text(text, encoding="utf-8")
    return folder


OWN_SUMMER = (
    "shipped_default: false\nseasons:\n  summer_vacation:\n    name: 暑假\n    start: '07-01'\n    end: '08-25'\n"
    "    years:\n      2026: [2026-07-03, 2026-08-28]\n"
)


def test_a_configured_folder_replaces_the_packaged_one_and_missing_seasons_fall_back(tmp_path: Path) -> None:
    table = RegionalSeasons(folder=_folder(tmp_path, 吉林=OWN_SUMMER))
    assert list(table.regions) == ["吉林"]
    listed, ruled = table.season("summer_vacation", 2026, "吉林"), table.season("summer_vacation", 2025, "吉林")
    assert (listed.start, listed.end, listed.provisional) == (dt.date(2026, 7, 3), dt.date(2026, 8, 28), False)
    assert (ruled.start, ruled.end, ruled.provisional) == (dt.date(2025, 7, 1), dt.date(2025, 8, 25), True)
    # 吉林 has no winter table of its own: the national one, flagged as it flags it.
    assert table.season("winter_vacation", 2026, "吉林") == SeasonCalendar().season("winter_vacation", 2026)
    assert table.season("summer_vacation", 2026) == SeasonCalendar().season("summer_vacation", 2026)
    with pytest.raises(ValueError, match="没有地区“重庆”的寒暑假时段表.*已有：吉林；不写 region 则按全国缺省表"):
        table.season("summer_vacation", 2026, "重庆")
    assert RegionalSeasons(folder=tmp_path / "missing").regions == {}


def test_region_needs_season_and_is_a_plain_name() -> None:
    assert Recurrence(season="winter_vacation", region=" 四川 ").region == "四川"
    with pytest.raises(ValidationError, match="region 只能与 season 一起使用"):
        Recurrence(anchor="qingming", region="四川")
    for bad in ("../四川", "四 川", "", "四川省重庆市" * 4):
        with pytest.raises(ValidationError):
            Recurrence(season="winter_vacation", region=bad)


def test_scheduled_dates_follow_the_region_and_fall_back_for_plain_tables(tmp_path: Path) -> None:
    term = Term(start=dt.date(2025, 9, 1), end=dt.date(2027, 8, 31))
    rec = Recurrence(season="summer_vacation", region="重庆", offset=3)
    expected = [(dt.date(2026, 7, 8), None, True), (dt.date(2027, 7, 8), None, True)]
    assert scheduled_dates(rec, term, 10, CAL, SEASONS) == expected
    # A plain national table (as older callers pass) still finds the packaged regions.
    assert scheduled_dates(rec, term, 10, CAL, SeasonCalendar()) == expected
    with pytest.raises(ValueError, match="没有地区“西藏”"):
        scheduled_dates(Recurrence(season="summer_vacation", region="西藏"), term, 10, CAL, SEASONS)


REGIONAL = """
  - id: "8"
    title: 关爱工程
    clauses:
      - id: "8.1"
        title: 寒假留守儿童关爱
        kind: volunteer_event
        responsible: {party: 广安市}
        recurrence: {season: winter_vacation, region: 四川, offset: 7}
      - id: "8.2"
        title: 暑期河小青
        kind: volunteer_event
        responsible: {party: 渝北区, department: 团区委}
        recurrence: {season: summer_vacation, region: 重庆, at: start}
"""


def _agreement(tmp_path: Path, extra: str = REGIONAL) -> Path:
    path = tmp_path / "small.yaml"
    path.write_text((FIXTURES / "small.yaml").read_text(encoding="utf-8") + extra, encoding="utf-8")
    return path


def test_a_plan_follows_each_clauses_region(db_url: str, tmp_path: Path) -> None:
    settings = Settings(database_url=db_url, secret_key="test-secret-key-for-links-0123456789")  # type: ignore[arg-type]
    plan_agreement(db_url, _agreement(tmp_path), dt.date(2025, 9, 1), "测试", settings=settings)
    with session_scope(db_url) as s:
        rows = s.execute(select(Occurrence).where(Occurrence.key.startswith("8."))).scalars().all()  # type: ignore[attr-defined]
        found = sorted((o.key, o.due_date, o.provisional) for o in rows)
    # 四川 winter 2026 starts 02-02 (+7 = 02-09, a Monday); 2027 starts 01-22 (+7 = 01-29, a Friday).
    # 重庆 summer starts 07-05 (2026: a Sunday, due the Friday before by `adjust: previous`).
    assert found == [
        ("8.1@2026-02-09", dt.date(2026, 2, 9), True),
        ("8.1@2027-01-29", dt.date(2027, 1, 29), True),
        ("8.2@2026-07-05", dt.date(2026, 7, 3), True),
        ("8.2@2027-07-05", dt.date(2027, 7, 5), True),
    ]


def test_an_unknown_region_is_reported_at_the_clause_line(tmp_path: Path) -> None:
    path = _agreement(tmp_path, REGIONAL.replace("region: 四川", "region: 四川省"))
    with pytest.raises(AgreementError) as exc:
        expand(load_agreement(path), CAL, 100, SEASONS)
    assert f"{path}:" in str(exc.value) and "没有地区“四川省”的寒暑假时段表" in str(exc.value)


def test_the_fingerprint_follows_the_regions_files_an_agreement_uses(tmp_path: Path) -> None:
    loaded, plain = load_agreement(_agreement(tmp_path)), load_agreement(FIXTURES / "small.yaml")
    folder = _folder(tmp_path, 四川=OWN_SUMMER, 重庆=OWN_SUMMER)
    before = schedule_fingerprint(loaded, RegionalSeasons(folder=folder))
    assert schedule_fingerprint(plain, RegionalSeasons(folder=folder)) == ""
    (folder / "吉林.yaml").write_text(OWN_SUMMER, encoding="utf-8")  # a region the agreement does not use
    assert schedule_fingerprint(loaded, RegionalSeasons(folder=folder)) == before
    (folder / "四川.yaml").write_text(OWN_SUMMER.replace("07-01", "07-02"), encoding="utf-8")
    assert schedule_fingerprint(loaded, RegionalSeasons(folder=folder)) != before
