"""Channel names resolve to URLs from the environment (or Prefect); secrets never reach a log line."""

from __future__ import annotations

import socket
import string
from pathlib import Path

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from coop.errors import CoopError
from coop.notify.channels import (
    Channel,
    ChannelInvalid,
    ChannelNotConfigured,
    channel_env_var,
    channel_kind,
    describe,
    redact,
    resolve_channel,
)
from coop.notify.channels.registry import _should_ask_prefect


def test_env_var_name() -> None:
    assert channel_env_var("yubei-swd-wecom") == "COOP_CHANNEL_YUBEI_SWD_WECOM"


def test_resolves_from_environment() -> None:
    env = {"COOP_CHANNEL_YUBEI_SWD_WECOM": "coop-wecom://0a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f9"}

    channel = resolve_channel("yubei-swd-wecom", env)

    assert channel == Channel("yubei-swd-wecom", env["COOP_CHANNEL_YUBEI_SWD_WECOM"], "wecom", "env")
    assert "0a1b2c3d" not in repr(channel) and "0a1b2c3d" not in str(channel)


def test_missing_channel_names_the_env_var_to_set() -> None:
    with pytest.raises(ChannelNotConfigured) as caught:
        resolve_channel("yubei-swd-wecom", {})

    assert isinstance(caught.value, CoopError)
    message = str(caught.value)
    assert "COOP_CHANNEL_YUBEI_SWD_WECOM" in message
    assert "coop-channel-yubei-swd-wecom" in message
    assert caught.value.env_var == "COOP_CHANNEL_YUBEI_SWD_WECOM"


def test_blank_value_counts_as_missing() -> None:
    with pytest.raises(ChannelNotConfigured):
        resolve_channel("x", {"COOP_CHANNEL_X": "   "})


def test_unusable_url_is_reported_without_its_secret() -> None:
    env = {"COOP_CHANNEL_BAD": "nosuchservice://user:Sup3rS3cretPass@host/tok"}

    with pytest.raises(ChannelInvalid) as caught:
        resolve_channel("bad", env)

    assert "COOP_CHANNEL_BAD" in str(caught.value)
    assert "Sup3rS3cretPass" not in str(caught.value)


def test_malformed_robot_url_is_rejected_at_resolution() -> None:
    with pytest.raises(ChannelInvalid):
        resolve_channel("ding", {"COOP_CHANNEL_DING": "coop-dingtalk://T/S/extra"})


def test_invalid_channel_name() -> None:
    with pytest.raises(ChannelInvalid):
        resolve_channel("渝北 商务委", {})


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_prefect_server_is_tolerated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PREFECT_API_URL", f"http://127.0.0.1:{_closed_port()}/api")
    # The lookup reaches the dead server and still answers with the configuration error, not a crash.
    with pytest.raises(ChannelNotConfigured):
        resolve_channel("yubei-swd-wecom", {})


def test_prefect_is_not_consulted_without_an_api_url() -> None:
    # Without an API URL, asking Prefect would start an ephemeral server; the lookup must not.
    assert not _should_ask_prefect({}, None)
    assert _should_ask_prefect({"PREFECT_API_URL": "http://127.0.0.1:1/api"}, None)
    assert _should_ask_prefect({}, True)
    with pytest.raises(ChannelNotConfigured):
        resolve_channel("yubei-swd-wecom", {})


@pytest.mark.slow
def test_prefect_secret_block_is_used_when_env_var_missing(tmp_path) -> None:
    """A real (ephemeral, local) Prefect API holding the Secret block."""
    from prefect.blocks.system import Secret
    from prefect.settings import (
        PREFECT_API_URL,
        PREFECT_HOME,
        PREFECT_SERVER_ANALYTICS_ENABLED,
        temporary_settings,
    )

    url = "coop-feishu://pf-token-0123456789abcdef/pfSecretABCDEF0123456789"
    with temporary_settings(
        updates={PREFECT_HOME: tmp_path, PREFECT_SERVER_ANALYTICS_ENABLED: False},
        restore_defaults={PREFECT_API_URL},
    ):
        Secret(value=url).save("coop-channel-guangan-fgw-feishu", overwrite=True)
        channel = resolve_channel("guangan-fgw-feishu", {}, prefect=True)

        assert (channel.url, channel.kind, channel.source) == (url, "feishu", "prefect")
        # A block-held secret is redacted even though no environment variable mentions it.
        assert "pfSecretABCDEF0123456789" not in redact("failed: pfSecretABCDEF0123456789 rejected")


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("mailtos://user:pass@smtp.host:587?to=a@b.cn", "email"),
        ("mailto://127.0.0.1:25?from=a@b.cn", "email"),
        ("coop-wecom://KEY", "wecom"),
        ("coopwecom://KEY", "wecom"),
        ("wecombot://KEY", "wecom"),
        ("coop-dingtalk://T/S", "dingtalk"),
        ("dingtalk://T", "dingtalk"),
        ("coop-feishu://T/S", "feishu"),
        ("lark://T", "feishu"),
        ("json://host:8080/path", "webhook"),
        ("jsons://host/path", "webhook"),
        ("tgram://bot/chat", "other"),
        ("not a url", "other"),
    ],
)
def test_channel_kind(url: str, kind: str) -> None:
    assert channel_kind(url) == kind


def test_redact_removes_configured_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COOP_CHANNEL_MAIL", "mailtos://coop:pa55word!x@smtp.example.cn:587?to=a@b.cn")
    monkeypatch.setenv("COOP_CHANNEL_DING", "coop-dingtalk://dtok9988/SECabc")

    line = redact("SMTP auth pa55word!x refused; dingtalk dtok9988 signed with SECabc failed")

    assert "pa55word!x" not in line and "dtok9988" not in line and "SECabc" not in line
    assert "SMTP auth" in line


def test_redact_masks_credential_shapes_it_was_not_told_about() -> None:
    text = (
        "POST https://oapi.dingtalk.com/robot/send?access_token=abcdef&timestamp=1&sign=zz%2Fyy failed; "
        "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=kkkk-1111 refused; "
        "https://open.feishu.cn/open-apis/bot/v2/hook/0a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f9 gone; "
        "channel coop-feishu://hooktoken/hooksecret?base=http://127.0.0.1:9 and mailtos://me:hunter2@smtp.x.cn"
    )

    line = redact(text)

    for secret in (
        "abcdef",
        "zz%2Fyy",
        "kkkk-1111",
        "0a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f9",
        "hooktoken",
        "hooksecret",
        "hunter2",
    ):
        assert secret not in line, secret
    assert "oapi.dingtalk.com/robot/send" in line and "timestamp=1" in line


def test_describe_uses_apprise_privacy_form() -> None:
    shown = describe("mailtos://coop:pa55word@smtp.example.cn:587?to=a@b.cn")
    assert "pa55word" not in shown and shown.startswith("mailtos://coop:")
    assert describe("coop-wecom://KEYKEY") == "coop-wecom://****"


_SECRET = st.text(string.ascii_letters + string.digits, min_size=6, max_size=40)


@given(
    secret=_SECRET,
    template=st.sampled_from(
        [
            "coop-wecom://{s}",
            "coop-dingtalk://tok/{s}",
            "coopfeishu://{s}/x",
            "mailtos://user:{s}@smtp.example.cn:587",
            "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key={s}",
            "https://oapi.dingtalk.com/robot/send?access_token={s}",
            "json://host/path?token={s}",
        ]
    ),
)
def test_redact_never_leaks_a_credential_in_a_url(secret: str, template: str) -> None:
    prose = "delivery failed via {url} (timeout)"
    assume(secret not in prose and secret not in template)
    line = redact(prose.format(url=template.format(s=secret)))
    assert secret not in line


@pytest.mark.parametrize(
    ("name", "example"),
    [
        ("yubei-swd-email", "mailto://"),
        ("changshou-feishu", "coop-feishu://"),
        ("guangan-dingtalk", "coop-dingtalk://"),
        ("yubei-swd-wecom", "coop-wecom://"),
    ],
)
def test_the_missing_channel_hint_shows_a_url_of_its_own_kind(name: str, example: str) -> None:
    with pytest.raises(ChannelNotConfigured) as caught:
        resolve_channel(name, {})
    hint = str(caught.value).split("例如 ", 1)[1]
    assert hint.startswith(example), hint


def test_an_unconfigured_channel_can_fall_back_to_a_local_inbox(tmp_path: Path) -> None:
    channel = resolve_channel("yubei-swd-email", {}, inbox=tmp_path)
    assert channel.source == "inbox" and channel.url == f"coopfile://{tmp_path.resolve() / 'yubei-swd-email.md'}"
    # A configured channel is never replaced by the inbox.
    env = {"COOP_CHANNEL_YUBEI_SWD_WECOM": "coop-wecom://0a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f9"}
    assert resolve_channel("yubei-swd-wecom", env, inbox=tmp_path).source == "env"
