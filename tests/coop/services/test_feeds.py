"""Calendar feeds: parsed back with icalendar, one task followed through a re-plan, an extension and a cancellation;
revocation, and that a department's feed never shows another department's tasks."""

from __future__ import annotations

import datetime as dt

import pytest
from conftest import FIXTURES
from icalendar import Calendar, Event
from sqlalchemy import select

from coop.access import signer
from coop.agreement.loader import parse_agreement
from coop.calendar import WorkdayCalendar
from coop.errors import CoopError, FeedRevoked, LinkInvalid
from coop.planning import calendar_fingerprint, expand
from coop.services import operations
from coop.services.coordinators import coordinator_named, issue_coordinator_token
from coop.services.feeds import feed_ics, feed_url, revoke_feed
from coop.settings import Settings
from coop.store.plans import apply_plan
from models.db import session_scope
from models.tables import Department, LedgerEvent, Occurrence

SMALL = (FIXTURES / "small.yaml").read_text(encoding="utf-8")
# 2026-10-03 falls in the National Day holiday: `adjust` decides the due date, the key (nominal date) stays.
PATROL = """      - id: 6.2
        title: 国庆安全巡查
        kind: patrol
        responsible: {party: 渝北区, department: 团区委}
        recurrence: {once: 2026-10-03, adjust: ADJUST}
"""
AGREEMENT = SMALL.rstrip("\n") + "\n" + PATROL
KEY = "6.2@2026-10-03"
UID = f"test-small/{KEY}@coop"
YUBEI = "渝北区/区委社会工作部"
TUANQUWEI = "渝北区/团区委"
NOW = dt.datetime(2026, 3, 2, 1, 0, tzinfo=dt.UTC)
CAL = WorkdayCalendar()


def settings(db_url: str) -> Settings:
    return Settings(database_url=db_url, secret_key="test-secret-key-for-feeds-0123456789")  # type: ignore[arg-type]


def plan(db_url: str, adjust: str, today: dt.date) -> None:
    loaded = parse_agreement(AGREEMENT.replace("ADJUST", adjust), "small.yaml")
    with session_scope(db_url) as s:
        apply_plan(s, loaded, expand(loaded, CAL, 1000), today, "协调员张三", calendar_fingerprint(CAL))


def token_of(url: str) -> str:
    assert url.startswith("http://127.0.0.1:8000/ical/") and url.endswith(".ics")
    return url.removeprefix("http://127.0.0.1:8000/ical/").removesuffix(".ics")


def events(db_url: str, token: str) -> dict[str, Event]:
    cal = Calendar.from_ical(feed_ics(db_url, settings(db_url), token, NOW))
    assert str(cal["X-WR-TIMEZONE"]) == "Asia/Shanghai"
    return {str(e["UID"]): e for e in cal.walk("VEVENT")}


def occurrence(db_url: str, key: str) -> Occurrence:
    with session_scope(db_url) as s:
        found = s.execute(select(Occurrence).where(Occurrence.key == key)).scalar_one()
        s.expunge(found)
        return found


def department_id(db_url: str, name: str) -> int:
    with session_scope(db_url) as s:
        dept = s.execute(select(Department).where(Department.name == name)).scalars().first()
        assert dept is not None and dept.id is not None
        return dept.id


def test_a_task_followed_through_re_plan_extension_and_cancellation(db_url: str) -> None:
    plan(db_url, "next", dt.date(2026, 3, 1))
    made = feed_url(db_url, settings(db_url), "测试", TUANQUWEI, "test-small")
    token = token_of(made.url)
    again = feed_url(db_url, settings(db_url), "测试", TUANQUWEI, "test-small")
    assert again.url == made.url  # the URL a calendar subscribed to stays the same

    first = events(db_url, token)[UID]
    assert first["DTSTART"].dt == dt.date(2026, 10, 8) and first["DTEND"].dt == dt.date(2026, 10, 9)
    assert str(first["STATUS"]) == "CONFIRMED" and str(first["SUMMARY"]) == "国庆安全巡查"
    occ = occurrence(db_url, KEY)
    # The report link in each event is the department's signed link for this very task.
    link = str(first["URL"])
    assert link in str(first["DESCRIPTION"])
    claims = signer(settings(db_url)).read(link.rsplit("/r/", 1)[1], "report")
    assert (claims.occurrence_id, claims.department_id) == (occ.id, occ.department_id)

    plan(db_url, "previous", dt.date(2026, 3, 2))  # the re-plan moves the due date before the holiday
    moved = events(db_url, token)[UID]
    assert moved["DTSTART"].dt == dt.date(2026, 9, 30)
    assert moved["SEQUENCE"] > first["SEQUENCE"]
    assert occurrence(db_url, KEY).id == occ.id

    issue_coordinator_token(db_url, "张协调", None)
    chief = coordinator_named(db_url, "张协调")
    assert occ.id is not None
    operations.extend(db_url, chief, occ.id, dt.date(2026, 10, 16), "场地改期", today=dt.date(2026, 3, 2))
    extended = events(db_url, token)[UID]
    assert extended["DTSTART"].dt == dt.date(2026, 10, 16)
    assert extended["SEQUENCE"] > moved["SEQUENCE"]

    operations.cancel(db_url, chief, occ.id, "活动取消")
    cancelled = events(db_url, token)[UID]
    assert str(cancelled["STATUS"]) == "CANCELLED" and cancelled["SEQUENCE"] > extended["SEQUENCE"]
    assert cancelled["DTSTART"].dt == dt.date(2026, 10, 16) and "URL" not in cancelled
    # the coordinator feed of the agreement shows the same task, same UID, same SEQUENCE
    coordinator = events(db_url, token_of(feed_url(db_url, settings(db_url), "测试", None, "test-small").url))
    assert coordinator[UID]["SEQUENCE"] == cancelled["SEQUENCE"] and "URL" not in coordinator[UID]
    assert len(coordinator) > len(events(db_url, token))


def test_a_department_feed_never_shows_another_departments_tasks(db_url: str) -> None:
    plan(db_url, "next", dt.date(2026, 3, 1))
    for name, dept in ((TUANQUWEI, "团区委"), (YUBEI, "区委社会工作部")):
        seen = events(db_url, token_of(feed_url(db_url, settings(db_url), "测试", name, "test-small").url))
        assert seen
        owner = department_id(db_url, dept) if dept == "团区委" else None
        with session_scope(db_url) as s:
            for event in seen.values():
                occ = s.get(Occurrence, int(str(event["X-COOP-OCCURRENCE"])))
                assert occ is not None
                if owner is not None:
                    assert occ.department_id == owner
                else:
                    assert not occ.key.startswith("6.")  # 团区委's patrols are not 区委社会工作部's
        assert (UID in seen) == (dept == "团区委")


def test_a_revoked_feed_is_refused_and_the_new_url_works(db_url: str) -> None:
    plan(db_url, "next", dt.date(2026, 3, 1))
    with pytest.raises(CoopError):
        revoke_feed(db_url, "测试", "手机丢失", TUANQUWEI, "test-small")  # nothing issued yet
    old = token_of(feed_url(db_url, settings(db_url), "测试", TUANQUWEI, "test-small").url)
    with pytest.raises(CoopError):
        revoke_feed(db_url, "测试", " ", TUANQUWEI, "test-small")
    revoke_feed(db_url, "张协调", "手机丢失", TUANQUWEI, "test-small")
    with pytest.raises(FeedRevoked) as refused:
        feed_ics(db_url, settings(db_url), old, NOW)
    assert refused.value.status == 410
    new = token_of(feed_url(db_url, settings(db_url), "测试", TUANQUWEI, "test-small").url)
    assert new != old and UID in events(db_url, new)
    with session_scope(db_url) as s:
        kinds = [(e.kind, e.actor) for e in s.execute(select(LedgerEvent).order_by(LedgerEvent.id)).scalars()]
    assert ("calendar_feed_revoked", "张协调") in kinds and ("calendar_feed_issued", "测试") in kinds
    # a forged, altered or report-purpose token is simply unknown (404)
    report = signer(settings(db_url)).issue("report", 1, 1)
    for bad in (new[:-2] + "xx", report, "nonsense"):
        with pytest.raises(LinkInvalid):
            feed_ics(db_url, settings(db_url), bad, NOW)
