"""DingTalk (钉钉) group robot: `coop-dingtalk://ACCESS_TOKEN[/SECRET][?base=...]`, SECRET for 加签."""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

from coop.notify.channels.robot import RobotProtocol, RobotRequest, RobotTarget


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """DingTalk 加签: base64(HMAC-SHA256(key=secret, msg=f"{timestamp}\\n{secret}"))."""
    digest = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def build_request(target: RobotTarget, title: str, body: str, now: float) -> RobotRequest:
    """A markdown message, signed when the URL carries a secret."""
    params = {"access_token": target.token}
    if target.secret:
        ts = int(now * 1000)
        params |= {"timestamp": str(ts), "sign": dingtalk_sign(target.secret, ts)}
    # markdown.title is only the notification preview, so the title is repeated as a heading.
    text = f"### {title}\n\n{body}" if title else body
    return RobotRequest(
        url=f"{target.base}/robot/send",
        params=params,
        payload={"msgtype": "markdown", "markdown": {"title": title or body[:30], "text": text}},
    )


def _code(data: dict[str, Any]) -> object:
    return data.get("errcode")


PROTOCOL = RobotProtocol(
    kind="dingtalk",
    schemas=("coop-dingtalk", "coopdingtalk"),
    default_base="https://oapi.dingtalk.com",
    # DingTalk rejects bodies around 20 KB: stay well below to leave room for the JSON around the text.
    message_limit=18000,
    permanent_codes=frozenset({300001, 310000, 400102}),  # token unknown; sign/keyword/IP check; robot disabled
    rate_limit_codes=frozenset({130101}),
    code_label="errcode",
    takes_secret=True,
    build=build_request,
    code=_code,
)
