"""Robot delivery against the local sink: protocol, signatures, and every way a robot says no."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import apprise
import httpx
import pytest
from peers.robot_sink import RobotSink

from coop.notify.channels import (
    DEFAULT_BASES,
    adeliver,
    deliver,
    dingtalk_sign,
    feishu_sign,
    parse_retry_after,
    parse_robot_url,
    request_count,
    split_body,
)


def test_wecom_markdown_reaches_sink(robot_sink: RobotSink) -> None:
    result = deliver(robot_sink.wecom_url(), "任务提醒", "**今日到期**：第2.1条")

    assert result.ok and result.status == 200 and not result.retryable
    [msg] = robot_sink.messages("wecom")
    assert msg.query["key"] == "wecom-key-0a1b2c3d4e5f60718293"
    assert msg.body["msgtype"] == "markdown"
    assert "任务提醒" in msg.body["markdown"]["content"]
    assert "**今日到期**：第2.1条" in msg.body["markdown"]["content"]


def test_dingtalk_is_signed_per_docs(robot_sink: RobotSink) -> None:
    secret = "SECd1n9t4lk5ecret0987654321"
    result = deliver(robot_sink.dingtalk_url(secret=secret), "任务提醒", "正文")

    assert result.ok, result.detail
    [msg] = robot_sink.messages("dingtalk")
    ts = int(msg.query["timestamp"])
    expected = base64.b64encode(hmac.new(secret.encode(), f"{ts}\n{secret}".encode(), hashlib.sha256).digest()).decode()
    assert msg.query["sign"] == expected == dingtalk_sign(secret, ts)
    assert msg.body["msgtype"] == "markdown"
    assert msg.body["markdown"]["title"] == "任务提醒"
    assert "正文" in msg.body["markdown"]["text"]


def test_feishu_is_signed_per_docs(robot_sink: RobotSink) -> None:
    secret = "fe1shuS3cretABCDEF123456"
    result = deliver(robot_sink.feishu_url(secret=secret), "任务提醒", "**正文**")

    assert result.ok, result.detail
    [msg] = robot_sink.messages("feishu")
    ts = int(msg.body["timestamp"])
    expected = base64.b64encode(hmac.new(f"{ts}\n{secret}".encode(), b"", hashlib.sha256).digest()).decode()
    assert msg.body["sign"] == expected == feishu_sign(secret, ts)
    assert msg.body["msg_type"] == "interactive"
    assert msg.body["card"]["header"]["title"]["content"] == "任务提醒"
    assert msg.body["card"]["elements"][0]["content"] == "**正文**"


@pytest.mark.parametrize("kind", ["dingtalk", "feishu"])
def test_unsigned_robots_send_no_signature(robot_sink: RobotSink, kind: str) -> None:
    url = getattr(robot_sink, f"{kind}_url")(secret=None)

    assert deliver(url, "t", "b").ok
    [msg] = robot_sink.messages(kind)  # type: ignore[arg-type]
    assert "sign" not in msg.query and "sign" not in msg.body


def test_wrong_dingtalk_secret_is_a_permanent_failure(robot_sink: RobotSink) -> None:
    robot_sink.dingtalk_url(token="tok-abc123def456ghi789", secret="SECright000111222333")
    url = f"coop-dingtalk://tok-abc123def456ghi789/SECwrong000111222333?base={robot_sink.base_url}"

    result = deliver(url, "t", "b")

    assert not result.ok and not result.retryable
    assert "310000" in result.detail
    assert robot_sink.messages() == []
    assert "SECwrong000111222333" not in result.detail and "tok-abc123def456ghi789" not in result.detail


def test_wrong_feishu_secret_is_a_permanent_failure(robot_sink: RobotSink) -> None:
    robot_sink.feishu_url(token="hook-abc123def456ghi789", secret="right0001112223334445")
    url = f"coop-feishu://hook-abc123def456ghi789/wrong0001112223334445?base={robot_sink.base_url}"

    result = deliver(url, "t", "b")

    assert not result.ok and not result.retryable
    assert "19021" in result.detail


def test_unknown_wecom_key_is_permanent(robot_sink: RobotSink) -> None:
    result = deliver(f"coop-wecom://never-registered-key-123456?base={robot_sink.base_url}", "t", "b")

    assert not result.ok and not result.retryable and "93000" in result.detail


@pytest.mark.parametrize(("kind", "code"), [("wecom", 45009), ("dingtalk", 130101), ("feishu", 11232)])
def test_errcode_in_http_200_is_a_retryable_failure(robot_sink: RobotSink, kind: str, code: int) -> None:
    url = getattr(robot_sink, f"{kind}_url")()
    robot_sink.fail_next(1, errcode=code, errmsg="send too fast")

    first = deliver(url, "t", "b")
    second = deliver(url, "t", "b")

    assert first.status == 200
    assert not first.ok and first.retryable
    assert str(code) in first.detail and "send too fast" in first.detail
    assert first.retry_after == 60.0  # rate limit: about 20 messages a minute
    assert second.ok
    assert len(robot_sink.messages(kind)) == 1  # type: ignore[arg-type]


def test_other_errcodes_are_retryable_without_a_wait_hint(robot_sink: RobotSink) -> None:
    robot_sink.fail_next(1, errcode=-1, errmsg="system busy")

    result = deliver(robot_sink.wecom_url(), "t", "b")

    assert not result.ok and result.retryable and result.retry_after is None


def test_http_500_is_retryable(robot_sink: RobotSink) -> None:
    robot_sink.status_next(1, 500)

    result = deliver(robot_sink.dingtalk_url(), "t", "b")

    assert (result.ok, result.retryable, result.status) == (False, True, 500)


def test_429_retry_after_seconds(robot_sink: RobotSink) -> None:
    robot_sink.status_next(1, 429, retry_after="17")

    result = deliver(robot_sink.feishu_url(), "t", "b")

    assert (result.ok, result.retryable, result.status, result.retry_after) == (False, True, 429, 17.0)


def test_429_retry_after_http_date(robot_sink: RobotSink) -> None:
    later = datetime.now(UTC) + timedelta(seconds=120)
    robot_sink.status_next(1, 429, retry_after=format_datetime(later, usegmt=True))

    result = deliver(robot_sink.wecom_url(), "t", "b")

    assert result.retryable and result.retry_after is not None and 100 <= result.retry_after <= 121


def test_other_4xx_is_permanent(robot_sink: RobotSink) -> None:
    robot_sink.status_next(1, 403)

    result = deliver(robot_sink.wecom_url(), "t", "b")

    assert (result.ok, result.retryable, result.status) == (False, False, 403)


def test_sink_down_then_back_on_same_port(robot_sink: RobotSink) -> None:
    url = robot_sink.wecom_url()
    port = robot_sink.port
    robot_sink.stop()

    down = deliver(url, "t", "b")
    robot_sink.restart()
    up = deliver(url, "t", "b")

    assert not down.ok and down.retryable and down.status is None
    assert "connection" in down.detail
    assert robot_sink.port == port and up.ok


def test_slow_robot_times_out_retryably(robot_sink: RobotSink) -> None:
    robot_sink.slow_next(1, seconds=2.0)

    result = deliver(robot_sink.dingtalk_url(), "t", "b", timeout=0.3)

    assert not result.ok and result.retryable and "timeout" in result.detail


@pytest.mark.parametrize("title", ["周报", "【逾期督办】渝北区商务委：12项任务逾期未办结，另有36项任务提醒（3月13日）"])
def test_long_wecom_body_is_split_within_the_4096_byte_limit(robot_sink: RobotSink, title: str) -> None:
    body = "\n".join(f"- 第{i}项任务：渝北区与广安市联合招商推介会材料报送" for i in range(300))

    result = deliver(robot_sink.wecom_url(), title, body)

    assert result.ok, result.detail  # the sink refuses content over 4096 bytes, as WeCom does
    parts = robot_sink.messages("wecom")
    assert len(parts) > 1
    assert all(len(p.body["markdown"]["content"].encode()) <= 4096 for p in parts)
    assert parts[0].body["markdown"]["content"].startswith(f"**{title}（1/{len(parts)}）**")
    joined = "".join(p.body["markdown"]["content"] for p in parts)
    assert all(f"第{i}项任务" in joined for i in range(300))


def test_split_stops_at_the_first_refused_piece(robot_sink: RobotSink) -> None:
    body = "\n".join("很长的一行" * 20 for _ in range(200))
    robot_sink.status_next(1, 500)

    result = deliver(robot_sink.wecom_url(), "t", body)

    assert not result.ok and len(robot_sink.received) == 1


def test_split_body_keeps_text_and_respects_limit() -> None:
    body = "甲" * 5000 + "\n" + "乙\n" * 50
    pieces = split_body(body, 1000)
    assert "".join(pieces) == body
    assert all(len(p.encode()) <= 1000 for p in pieces)


def test_generic_json_webhook_goes_through_apprise(robot_sink: RobotSink) -> None:
    result = deliver(robot_sink.hook_url(), "标题", "正文")

    assert result.ok, result.detail
    [msg] = robot_sink.messages("hook")
    assert msg.body["title"] == "标题" and msg.body["message"] == "正文"


def test_apprise_failure_is_reported_retryable(robot_sink: RobotSink) -> None:
    url = robot_sink.hook_url()
    robot_sink.stop()

    result = deliver(url, "t", "b", timeout=5)

    assert not result.ok and result.retryable and result.detail


def test_registered_apprise_schemas_use_the_same_protocol(robot_sink: RobotSink) -> None:
    robot_sink.dingtalk_url(token="apprise-token-1234567890", secret="SECapprise1234567890")
    notifier = apprise.Apprise()
    assert notifier.add(f"coopdingtalk://apprise-token-1234567890/SECapprise1234567890?base={robot_sink.base_url}")

    assert notifier.notify(body="正文", title="标题")
    robot_sink.fail_next(1, errcode=130101)
    assert not notifier.notify(body="正文", title="标题")
    [msg] = robot_sink.messages("dingtalk")
    assert msg.query["sign"]


def test_hyphen_and_apprise_spellings_are_equivalent() -> None:
    a = parse_robot_url("coop-feishu://TOKEN123/SECRET456?base=http://127.0.0.1:1")
    b = parse_robot_url("coopfeishu://TOKEN123/SECRET456?base=http://127.0.0.1:1")
    assert a == b and a.kind == "feishu" and a.secret == "SECRET456"
    assert "SECRET456" not in repr(a)


def test_default_base_is_the_real_service() -> None:
    assert parse_robot_url("coop-wecom://K").base == DEFAULT_BASES["wecom"] == "https://qyapi.weixin.qq.com"
    assert parse_robot_url("coop-dingtalk://T/S").base == "https://oapi.dingtalk.com"
    assert parse_robot_url("coop-feishu://T").base == "https://open.feishu.cn"


@pytest.mark.parametrize(
    "url",
    ["coop-wecom://", "coop-wecom://K/extra", "coop-dingtalk://T/S/extra", "coop-feishu://T?base=ftp://x"],
)
def test_malformed_robot_urls_fail_permanently_without_sending(url: str) -> None:
    with pytest.raises(ValueError):
        parse_robot_url(url)
    result = deliver(url, "t", "b")
    assert not result.ok and not result.retryable


def test_parse_retry_after_rejects_garbage() -> None:
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    assert parse_retry_after("-5") == 0.0


def test_adeliver_with_bounded_concurrency_and_shared_client(robot_sink: RobotSink) -> None:
    urls = [robot_sink.wecom_url(), robot_sink.dingtalk_url(), robot_sink.feishu_url(), robot_sink.hook_url()]
    robot_sink.fail_next(1, errcode=45009)

    async def run() -> list:
        limit = asyncio.Semaphore(3)
        async with httpx.AsyncClient() as client:

            async def one(i: int) -> object:
                async with limit:
                    return await adeliver(urls[i % 4], f"第{i}条", "正文", timeout=5, client=client)

            return await asyncio.gather(*(one(i) for i in range(12)))

    results = asyncio.run(run())

    assert sum(not r.ok for r in results) == 1
    assert [r for r in results if not r.ok][0].retryable
    assert len(robot_sink.messages()) == 11


def test_adeliver_reports_refused_connection(robot_sink: RobotSink) -> None:
    url = robot_sink.feishu_url()
    robot_sink.stop()

    result = asyncio.run(adeliver(url, "t", "b", timeout=2))

    assert not result.ok and result.retryable


def test_request_count_says_how_many_requests_a_message_takes(robot_sink: RobotSink) -> None:
    """The dispatcher budgets what a crash may resend in requests: a long digest goes out in parts."""
    long_body = "\n".join(f"- 第{i}项任务：渝北区与广安市联合招商推介会材料报送" for i in range(300))
    url = robot_sink.wecom_url()

    assert deliver(url, "周报", long_body).ok
    assert request_count(url, "周报", long_body) == len(robot_sink.messages("wecom")) > 1
    assert request_count(url, "周报", "短消息") == 1
    assert request_count(robot_sink.hook_url(), "周报", long_body) == 1  # apprise: one notify call
    assert request_count("coop-wecom://", "周报", long_body) == 1  # unusable URL: nothing is sent, counted as one
