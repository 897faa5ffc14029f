"""Issue 13, finding 4: hostile agreement and report text (tests/fixtures/hostile.yaml) reaches every channel and every
artifact as text — never live HTML in a page, a mail client or an artifact, never a link, image, tag or @mention in
a group robot's markdown. Real sinks for every channel that sends; SQLite and PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest
from conftest import FIXTURES
from conftest_web import start_server, web_settings
from icalendar import Calendar
from markdown_it import MarkdownIt
from peers.robot_sink import RobotSink
from peers.smtp_sink import SmtpSink
from sqlalchemy import select

from coop.access import LinkSigner
from coop.agreement.loader import load_agreement
from coop.artifacts import (
    PlanRun,
    completion_markdown,
    plan_index_markdown,
    plan_markdown,
    planned_counts,
    sweep_markdown,
    user_error_markdown,
)
from coop.calendar import WorkdayCalendar
from coop.errors import CoopError
from coop.ical import FeedItem, render
from coop.notify.results import BatchResult, DeliveryResult, DrainReport
from coop.occurrence_status import SweepResult
from coop.planning import calendar_fingerprint, expand
from coop.report import CompletionReport
from coop.services import audit
from coop.services.delivery import drain_outbox
from coop.services.feeds import feed_url
from coop.services.notifications import batch_notices, record_due_notices
from coop.services.status import agreement_summaries, describe_occurrence, overdue_occurrences
from coop.settings import Settings
from coop.store.audit import AuditFilter
from coop.store.outbox import Claimed, Settled, list_messages
from coop.store.plans import apply_plan
from coop.summary import dead_letters_markdown, dispatch_markdown
from models.db import session_scope
from models.tables import Agency, Department, Occurrence

HOSTILE_FILE = FIXTURES / "hostile.yaml"
SCRIPT = "<script>alert(1)</script><img src=x onerror=alert(1)>"
ROBOT_TRAPS = '[点我](http://evil.invalid/x)![x](http://evil.invalid/x.png)<font color="warning">紧急</font>@all'
CAL = WorkdayCalendar()
TODAY = dt.date(2026, 3, 20)  # a Friday: some occurrences overdue, some due soon
FAST = Settings(
    notify_backoff_seconds=0.05, notify_backoff_max_seconds=0.2, notify_max_attempts=3, notify_rate_per_minute={}
)
YUBEI = "渝北区/区委社会工作部"
# Tags that run code, load something or restyle/mention in a robot; none may come out of agreement text.
LIVE_TAGS = {"script", "img", "iframe", "svg", "font", "at", "object", "embed", "video", "audio", "style", "link"}


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def assert_no_live_html(html: str, allowed: frozenset[str] = frozenset()) -> str:
    """No tag that runs code or loads anything, no event handler, no link off the page; returns the visible text."""
    parser = _Tags()
    parser.feed(html)
    for tag, attrs in parser.tags:
        assert tag not in LIVE_TAGS - allowed, (tag, attrs)
        assert not [name for name in attrs if name.startswith("on")], (tag, attrs)
        href = (attrs.get("href") or attrs.get("src") or "").lower()
        assert "evil.invalid" not in href and not href.startswith(("javascript:", "data:")), (tag, attrs)
    return "".join(parser.text)


def assert_inert_markdown(text: str) -> None:
    """As a group robot or any markdown renderer reads it (raw HTML let through): no link, image, tag or mention."""
    for trap in ("](", "<", "@all", "<@", "`code`"):
        assert trap not in text, (trap, text[:300])
    assert_no_live_html(MarkdownIt("commonmark", {"html": True}).enable("table").render(text))


def _plan(db_url: str, today: dt.date = TODAY) -> None:
    loaded = load_agreement(HOSTILE_FILE)
    with session_scope(db_url) as s:
        apply_plan(s, loaded, expand(loaded, CAL, 1000), today, "tester", calendar_fingerprint(CAL))


# -- messages, through every channel to real sinks ----------------------------------------------------------------


@pytest.fixture
def delivered(
    db_url: str, notify_channels: RobotSink, smtp_sink: SmtpSink, tmp_path: Path
) -> Iterator[tuple[RobotSink, SmtpSink, Path]]:
    """The hostile agreement planned, today's notices decided and delivered to every channel."""
    _plan(db_url)
    with session_scope(db_url) as s:
        record_due_notices(s, TODAY, CAL)
        assert batch_notices(s, TODAY).messages >= 6
    report = drain_outbox(db_url, wait_seconds=0, settings=FAST.model_copy(update={"inbox_dir": tmp_path}))
    assert report.dead == [] and report.total("sent") >= 6
    yield notify_channels, smtp_sink, tmp_path / "guangan-inbox.md"


def test_group_robots_show_hostile_text_as_text(delivered: tuple[RobotSink, SmtpSink, Path]) -> None:
    sink, _, _ = delivered
    wecom = [r.body["markdown"]["content"] for r in sink.messages("wecom")]
    dingtalk = [t for r in sink.messages("dingtalk") for t in (r.body["markdown"]["title"], r.body["markdown"]["text"])]
    feishu = [
        t
        for r in sink.messages("feishu")
        for t in (r.body["card"]["header"]["title"]["content"], r.body["card"]["elements"][0]["content"])
    ]
    assert wecom and dingtalk and feishu
    for text in wecom + dingtalk + feishu:
        assert_inert_markdown(text)
    shown = "\n".join(wecom + dingtalk + feishu)
    # The author's words are all there, as text a person can read (full-width brackets, no markup).
    assert "联合培训＜script＞alert(1)＜/script＞" in shown and "［点我］(http://evil.invalid/x)" in shown
    assert '＜font color="warning"＞紧急＜/font＞＠all＜＠all＞＜at id=all＞' in shown
    assert "党群服务中心＜iframe" in shown


def test_email_html_and_text_parts_show_hostile_text_as_text(delivered: tuple[RobotSink, SmtpSink, Path]) -> None:
    _, smtp, _ = delivered
    mails = smtp.wait_for(1)
    assert mails
    for mail in mails:
        assert mail.html is not None
        visible = assert_no_live_html(mail.html)
        assert "金点子征集＜svg onload=alert(5)＞" in visible
        assert "<" not in mail.subject
        assert_inert_markdown(mail.text)
        assert "金点子征集＜svg onload=alert(5)＞" in mail.text


def test_webhook_json_and_local_inbox_carry_hostile_text_as_text(delivered: tuple[RobotSink, SmtpSink, Path]) -> None:
    sink, _, inbox = delivered
    hooks = sink.messages("hook")
    assert hooks
    for hook in hooks:
        assert isinstance(hook.body, dict), hook.body  # still well-formed JSON: the text could not break out
        assert set(hook.body) >= {"title", "message"}
        assert_inert_markdown(hook.body["title"])
        assert_inert_markdown(hook.body["message"])
        assert "金点子征集＜svg onload=alert(5)＞" in hook.body["message"]
    text = inbox.read_text(encoding="utf-8")
    assert "金点子征集＜svg onload=alert(5)＞" in text
    assert_inert_markdown(text)


# -- Prefect artifacts ----------------------------------------------------------------------------------------------


def _artifact_html(markdown: str) -> str:
    """As a markdown renderer that lets raw HTML through would show the artifact."""
    return assert_no_live_html(MarkdownIt("commonmark", {"html": True}).enable("table").render(markdown))


def test_artifacts_show_hostile_text_as_text(db_url: str) -> None:
    loaded = load_agreement(HOSTILE_FILE)
    planned = expand(loaded, CAL, 1000)
    with session_scope(db_url) as s:
        result = apply_plan(s, loaded, planned, TODAY, "tester", calendar_fingerprint(CAL))
    summaries = agreement_summaries(db_url, TODAY)
    total, overdue = overdue_occurrences(db_url)
    assert total and overdue
    occurrence = describe_occurrence(db_url, overdue[0].occurrence_id)
    assert occurrence is not None
    report = CompletionReport(
        occurrence_id=occurrence.occurrence_id,
        department=YUBEI,
        outcome="partial",
        participants=3,
        evidence=[f"https://example.cn/a.jpg{SCRIPT}"],
        note=f"说明{SCRIPT}{ROBOT_TRAPS}",
    )
    claimed = Claimed(1, "k", f"ch{SCRIPT}", "s", "b", 3, 1, "department")
    drain = DrainReport()
    drain.add([Settled(claimed, DeliveryResult(False, False, 200, f"wecom errcode 1: {SCRIPT}"), "wecom", 1, "dead")])
    artifacts = {
        "plan": plan_markdown(result, loaded.agreement.title, planned_counts(loaded, planned), summaries),
        "index": plan_index_markdown(
            TODAY,
            [
                PlanRun(str(HOSTILE_FILE), "run-1", result),
                PlanRun(f"agreements/x{SCRIPT}.yaml", None, None, f"错误{SCRIPT}{ROBOT_TRAPS}"),
            ],
        ),
        "sweep": sweep_markdown(TODAY, SweepResult(1, 1), total, overdue),
        "completion": completion_markdown(report, 7, occurrence),
        "error": user_error_markdown(CoopError(f"坏了{SCRIPT}")),
        "dispatch": dispatch_markdown(
            f"投递{SCRIPT}", 1, BatchResult(1, 1, [f"广安市{SCRIPT}"]), drain, {1: f"部门{SCRIPT}"}
        ),
    }
    with session_scope(db_url) as s:
        artifacts["dead"] = dead_letters_markdown(list_messages(s))  # whatever the outbox holds: at least the header
    by_programme = audit.summarise(Settings(database_url=db_url), AuditFilter(), audit.audit_day(), "programme")
    artifacts["audit"] = audit.summary_markdown(by_programme)
    for name, markdown in artifacts.items():
        visible = _artifact_html(markdown)
        if name != "dead":
            assert "alert(" in visible, name  # the text is there, as text
    assert "联合培训<script>alert(1)</script>" in _artifact_html(artifacts["sweep"])  # shown exactly as written
    assert "说明<script>alert(1)</script>" in _artifact_html(artifacts["completion"])


# -- web pages and the calendar feed, over real HTTP --------------------------------------------------------------


def _ids(db_url: str) -> tuple[int, int]:
    with session_scope(db_url) as s:
        department = s.execute(
            select(Department.id).join(Agency, Agency.id == Department.agency_id).where(Agency.name == "渝北区")
        ).scalar_one()
        occurrence = (
            s.execute(select(Occurrence.id).where(Occurrence.department_id == department).order_by(Occurrence.due_date))
            .scalars()
            .first()
        )
    assert occurrence is not None
    return department, occurrence


PAGE = frozenset({"style"})  # the pages' own stylesheet in <head> (base.html); the hostile text has none


def test_web_pages_and_calendar_feed_show_hostile_text_as_text(db_url: str, tmp_path: Path) -> None:
    _plan(db_url, dt.date(2026, 3, 1))
    department, occurrence = _ids(db_url)
    with start_server(lambda port: web_settings(db_url, tmp_path, port)) as (url, settings):
        assert settings.secret_key is not None
        signer = LinkSigner(settings.secret_key.get_secret_value())
        with httpx.Client(base_url=url, timeout=60) as client:
            listing = client.get("/d/" + signer.issue("list", department))
            assert listing.status_code == 200
            assert "联合培训<script>alert(1)</script>" in assert_no_live_html(listing.text, PAGE)
            report_path = "/r/" + signer.issue("report", department, occurrence)
            form = client.get(report_path)
            assert form.status_code == 200
            assert "alert(1)" in assert_no_live_html(form.text, PAGE)
            done = client.post(
                report_path,
                data={"outcome": "done", "participants": "3", "note": f"说明{SCRIPT}{ROBOT_TRAPS}"},
                files=[("files", ("", b"", "application/octet-stream"))],
            )
            assert done.status_code == 201, done.text
            assert "alert(" in assert_no_live_html(done.text, PAGE)
            feed = feed_url(db_url, settings, "tester", department=YUBEI)
            ics = client.get(httpx.URL(feed.url).path)
            assert ics.status_code == 200
    _assert_calendar_text(ics.content)
    summaries = [str(e.get("SUMMARY")) for e in Calendar.from_ical(ics.content).walk("VEVENT")]
    assert any("联合培训＜script＞alert(1)" in summary for summary in summaries)


def _assert_calendar_text(ics: bytes) -> None:
    calendar = Calendar.from_ical(ics)
    events = list(calendar.walk("VEVENT"))
    assert events
    for event in events:
        for name in ("SUMMARY", "DESCRIPTION", "LOCATION", "X-WR-CALNAME"):
            value = str(event.get(name) or "")
            assert_inert_markdown(value)


def test_calendar_text_cannot_add_properties_or_markup() -> None:
    item = FeedItem(
        occurrence_id=1,
        agreement_id="a",
        key="1.1@2026-03-01",
        title=f"培训{SCRIPT}\r\nATTENDEE:mailto:all@evil.invalid\r\nEND:VEVENT",
        agreement_title=f"协议{ROBOT_TRAPS}",
        window_start=dt.date(2026, 3, 1),
        due_date=dt.date(2026, 3, 2),
        status="overdue",
        sequence=0,
        updated_at=dt.datetime(2026, 3, 1, tzinfo=dt.UTC),
        who=f"渝北区/部门{SCRIPT}",
        location=f"地点{ROBOT_TRAPS}",
        host=f"承办{SCRIPT}",
        link="http://127.0.0.1:8000/r/abc",
    )
    ics = render(f"日历{SCRIPT}", [item], dt.datetime(2026, 3, 1, tzinfo=dt.UTC))
    calendar = Calendar.from_ical(ics)
    [event] = calendar.walk("VEVENT")
    assert "ATTENDEE" not in event and ics.split(b"\r\n").count(b"END:VEVENT") == 1
    assert_inert_markdown(str(calendar.get("X-WR-CALNAME")))
    _assert_calendar_text(ics)
    assert json.dumps(str(event.get("SUMMARY")), ensure_ascii=False).count("培训＜script＞") == 1
