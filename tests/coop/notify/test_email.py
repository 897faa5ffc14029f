"""Real SMTP delivery through apprise's `mailto://` plugin to the local aiosmtpd sink."""

from __future__ import annotations

import asyncio
import re
from dataclasses import replace
from datetime import date

from digest_samples import sample_item
from peers.smtp_sink import SmtpSink

from coop.notify.channels import adeliver, deliver
from coop.notify.digest import Digest, DigestItem
from coop.notify.templates import render_digest


def _item(occurrence_id: int, notice: str = "due_today") -> DigestItem:
    return sample_item(occurrence_id, notice, date(2025, 3, 14), window_start=date(2025, 3, 10))


def test_chinese_subject_and_body_arrive_decoded(smtp_sink: SmtpSink) -> None:
    result = deliver(
        smtp_sink.mailto_url(to="swd@yubei.example.cn"), "任务提醒：联合招商推介会", "**今日到期**，请报送会议纪要。"
    )

    assert result.ok, result.detail
    [mail] = smtp_sink.wait_for(1)
    assert mail.subject == "任务提醒：联合招商推介会"
    assert "今日到期" in mail.text and "请报送会议纪要" in mail.text
    assert mail.rcpt_tos == ["swd@yubei.example.cn"]
    assert mail.mail_from == "coop@example.cn"


def test_rendered_digest_by_email(smtp_sink: SmtpSink) -> None:
    digest = Digest("渝北区商务委", "渝北区", "department", [_item(101), _item(102, "reminder_t7")], date(2025, 3, 14))
    subject, body = render_digest(digest)

    assert deliver(smtp_sink.mailto_url(), subject, body).ok
    [mail] = smtp_sink.wait_for(1)
    assert mail.subject == subject
    assert "#101" in mail.text and "#102" in mail.text
    assert "2025年3月14日（星期五）" in mail.text
    assert "第2.1条" in mail.text


def test_mailto_without_mode_is_plain_smtp_too(smtp_sink: SmtpSink) -> None:
    url = f"mailto://{smtp_sink.host}:{smtp_sink.port}?from=coop@example.cn&to=dept@example.cn"

    assert deliver(url, "主题", "正文").ok
    assert smtp_sink.wait_for(1)[0].subject == "主题"


def test_adeliver_email_runs_apprise_in_a_thread(smtp_sink: SmtpSink) -> None:
    result = asyncio.run(adeliver(smtp_sink.mailto_url(), "异步主题", "异步正文"))

    assert result.ok
    assert smtp_sink.wait_for(1)[0].subject == "异步主题"


def test_smtp_down_is_a_retryable_failure(smtp_sink: SmtpSink) -> None:
    url = smtp_sink.mailto_url()
    smtp_sink.stop()

    result = deliver(url, "主题", "正文", timeout=5)

    assert not result.ok and result.retryable


def test_smtp_back_on_same_port_after_restart(smtp_sink: SmtpSink) -> None:
    url = smtp_sink.mailto_url()
    smtp_sink.stop()
    assert not deliver(url, "主题", "正文", timeout=5).ok

    smtp_sink.restart()

    assert deliver(url, "重发主题", "正文").ok
    assert [m.subject for m in smtp_sink.wait_for(1)] == ["重发主题"]


HOSTILE = "<script>alert(1)</script><img src=x onerror=alert(1)>"


def test_agreement_text_reaches_the_html_part_as_text_not_markup(smtp_sink: SmtpSink) -> None:
    """Issue 13, finding 4: a clause title is the agreement author's text, never live HTML in a mail client."""
    item = replace(_item(101), clause_title=HOSTILE, agreement_title=f"协议{HOSTILE}", location=HOSTILE, host=HOSTILE)
    digest = Digest(f"渝北区{HOSTILE}", "渝北区", "department", [item], date(2025, 3, 14))
    subject, body = render_digest(digest)
    # Robots' markdown dialects have no escapes: the characters that open tags, links and mentions go full-width.
    assert "<" not in body and "＜script＞alert(1)＜/script＞＜img src=x onerror=alert(1)＞" in body

    assert deliver(smtp_sink.mailto_url(), subject, body).ok
    [mail] = smtp_sink.wait_for(1)
    html = mail.html
    assert html is not None and "第2.1条" in html
    lowered = html.lower()
    assert "<script" not in lowered and "<img" not in lowered
    assert not re.search(r"<[^>]*\bon[a-z]+\s*=", lowered)  # no tag carries an event handler
    assert "＜script＞alert(1)＜/script＞＜img src=x onerror=alert(1)＞" in html
    assert "＜script＞alert(1)＜/script＞＜img src=x onerror=alert(1)＞" in mail.text  # the plain part reads as text


def test_report_links_survive_escaping(smtp_sink: SmtpSink) -> None:
    url = "http://127.0.0.1:8000/r/abc?x=1&y=2"
    subject, body = render_digest(
        Digest("渝北区商务委", "渝北区", "department", [replace(_item(101), report_url=url)], date(2025, 3, 14))
    )

    assert deliver(smtp_sink.mailto_url(), subject, body).ok
    [mail] = smtp_sink.wait_for(1)
    assert mail.html is not None and "http://127.0.0.1:8000/r/abc?x=1&amp;y=2" in mail.html
    assert url in mail.text
