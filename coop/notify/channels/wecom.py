"""WeCom (企业微信) group robot: `coop-wecom://KEY[?base=http://127.0.0.1:PORT]`."""

from __future__ import annotations

from typing import Any

from coop.notify.channels.robot import RobotProtocol, RobotRequest, RobotTarget


def build_request(target: RobotTarget, title: str, body: str, now: float) -> RobotRequest:  # noqa: ARG001
    """A markdown message; the title goes in bold on top (WeCom markdown has no title field)."""
    content = f"**{title}**\n\n{body}" if title else body
    return RobotRequest(
        url=f"{target.base}/cgi-bin/webhook/send",
        params={"key": target.token},
        payload={"msgtype": "markdown", "markdown": {"content": content}},
    )


def _code(data: dict[str, Any]) -> object:
    return data.get("errcode")


PROTOCOL = RobotProtocol(
    kind="wecom",
    schemas=("coop-wecom", "coopwecom"),
    default_base="https://qyapi.weixin.qq.com",
    message_limit=4096,  # markdown.content, UTF-8 bytes
    permanent_codes=frozenset({93000}),  # invalid webhook url (key revoked or wrong)
    rate_limit_codes=frozenset({45009}),
    code_label="errcode",
    takes_secret=False,
    build=build_request,
    code=_code,
)
