"""`GET /ical/<token>.ics` on a live server: a calendar parses it, a revoked URL is 410, the token stays out of logs."""

from __future__ import annotations

import logging

from conftest_web import TUANQUWEI, Live
from icalendar import Calendar
from sqlalchemy import select

from coop.services.feeds import feed_url, revoke_feed
from coop.web.app import RedactLinkTokens
from models.db import session_scope
from models.tables import Occurrence


def test_a_department_subscribes_over_http_and_a_revoked_url_is_gone(live: Live) -> None:
    url = feed_url(live.db_url, live.settings, "测试", TUANQUWEI).url
    assert url.startswith(f"{live.url}/ical/")
    with live.client() as client:  # no bearer token: the signed URL is the credential
        answer = client.get(url)
        assert answer.status_code == 200, answer.text
        assert answer.headers["content-type"].startswith("text/calendar")
        events = Calendar.from_ical(answer.content).walk("VEVENT")
        assert events
        owner = live.departments[TUANQUWEI]
        with session_scope(live.db_url) as s:
            for event in events:
                occ = s.get(Occurrence, int(str(event["X-COOP-OCCURRENCE"])))
                assert occ is not None and occ.department_id == owner
            mine = s.execute(select(Occurrence).where(Occurrence.department_id == owner)).scalars().all()
            assert {f"{o.agreement_id}/{o.key}@coop" for o in mine} == {str(e["UID"]) for e in events}

        revoke_feed(live.db_url, "张协调", "链接外泄", TUANQUWEI)
        gone = client.get(url)
        assert gone.status_code == 410 and "撤销" in gone.json()["detail"]
        assert client.get(f"{live.url}/ical/not-a-token.ics").status_code == 404
        assert client.get(url.replace("/ical/", "/r/").removesuffix(".ics")).status_code == 404


def test_feed_tokens_are_redacted_in_the_access_log() -> None:
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", "/ical/eyJwIjoiaSJ9.c2lnbmF0dXJl.ics", "1.1", 200),
        None,
    )
    assert RedactLinkTokens().filter(record)
    assert "eyJwIjoiaSJ9" not in record.getMessage() and "/ical/****" in record.getMessage()
