"""Feishu (飞书) group robot: `coop-feishu://HOOK_TOKEN[/SECRET][?base=...]`, SECRET for 签名校验."""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

from coop.notify.channels.robot import RobotProtocol, RobotRequest, RobotTarget


def feishu_sign(secret: str, timestamp_s: int) -> str:
    """Feishu 签名校验: base64(HMAC-SHA256(key=f"{timestamp}\\n{secret}", msg=b""))."""
    digest = hmac.new(f"{timestamp_s}\n{secret}".encode(), b"", hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def build_request(target: RobotTarget, title: str, body: str, now: float) -> RobotRequest:
    """An interactive card with a markdown element, signed when the URL carries a secret."""
    payload: dict[str, Any] = {
        "msg_type": "interactive",
        "card": {
            "config": {"wide_screen_mode": True},
            "header": {"title": {"tag": "plain_text", "content": title or "协作通"}},
            "elements": [{"tag": "markdown", "content": body}],
        },
    }
    if target.secret:
        ts = int(now)
        payload = {"timestamp": str(ts), "sign": feishu_sign(target.secret, ts), **payload}
    return RobotRequest(url=f"{target.base}/open-apis/bot/v2/hook/{target.token}", params={}, payload=payload)


def _code(data: dict[str, Any]) -> object:
    return data.get("code", data.get("StatusCode"))


PROTOCOL = RobotProtocol(
    kind="feishu",
    schemas=("coop-feishu", "coopfeishu"),
    default_base="https://open.feishu.cn",
    message_limit=18000,  # Feishu rejects bodies around 20 KB
    permanent_codes=frozenset({9499, 19001, 19021, 19022, 19024}),  # bad request; token invalid; sign; IP; keyword
    rate_limit_codes=frozenset({11232}),
    code_label="code",
    takes_secret=True,
    build=build_request,
    code=_code,
)
