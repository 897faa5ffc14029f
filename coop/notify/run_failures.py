"""The coordinators hear about a failed or crashed coop flow run: the webhook a Prefect automation calls, in Chinese.

Prefect's server sends it (an automation with a CallWebhook action, registered by `make ui`), so it works whichever
worker ran the flow and also when the run crashed before coop code could say anything. The payload is a Jinja template
Prefect renders with the run, its flow and deployment; the state message is already coop's Chinese explanation.
Only channels a static webhook can reach qualify: a JSON webhook or a WeCom robot (DingTalk and Feishu robots sign
each request, which a stored webhook cannot).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from coop.errors import CoopError

FAILED_STATES = ("Failed", "Crashed")
AUTOMATION_NAME = "coop-运行失败通知协调人"
WEBHOOK_BLOCK = "coop-coordinators-failure"
WECOM_BASE = "https://qyapi.weixin.qq.com"

# Rendered by Prefect's sandboxed Jinja; `<ui>` is the UI's address, filled in at registration; `tojson` keeps the
# state message (quotes, line breaks) valid JSON.
TITLE = "协作通运行{{ '崩溃' if flow_run.state.name == 'Crashed' else '失败' }}：{{ flow.name }}"
MESSAGE = (
    "流程：{{ flow.name }}\n"
    "部署：{{ deployment.name if deployment else '（本地运行）' }}\n"
    "运行：{{ flow_run.name }}（{{ flow_run.state.name }}）\n"
    "说明：{{ flow_run.state.message or '（无）' }}\n"
    "查看运行：<ui>/runs/flow-run/{{ flow_run.id }}"
)


@dataclass(frozen=True)
class FailureHook:
    """Where the automation posts (an http(s) URL, secret) and the payload template for that kind of channel."""

    url: str
    payload: str


def _json_payload(ui_url: str) -> str:
    """The same body apprise's `json://` sends, so one receiver handles both."""
    message = MESSAGE.replace("<ui>", ui_url)
    body = '{"version": "1.0", "type": "failure", "title": {{ title|tojson }}, "message": {{ message|tojson }}}'
    return "{% set title %}" + TITLE + "{% endset %}{% set message %}" + message + "{% endset %}" + body


def _wecom_payload(ui_url: str) -> str:
    text = TITLE + "\n" + MESSAGE.replace("<ui>", ui_url)
    return "{% set text %}" + text + '{% endset %}{"msgtype": "text", "text": {"content": {{ text|tojson }}}}'


def failure_hook(channel: str, url: str, ui_url: str) -> FailureHook:
    """The webhook for channel `channel` (apprise URL `url`), its links into the UI at `ui_url`; CoopError when no
    stored webhook can reach the channel."""
    split = urlsplit(url.strip())
    scheme = split.scheme.lower()
    if scheme in ("json", "jsons"):
        target = f"{'https' if scheme == 'jsons' else 'http'}://{split.netloc}{split.path or '/'}"
        return FailureHook(target, _json_payload(ui_url.rstrip("/")))
    if scheme in ("coop-wecom", "coopwecom") and split.netloc:
        base = (parse_qs(split.query).get("base") or [WECOM_BASE])[0].rstrip("/")
        return FailureHook(f"{base}/cgi-bin/webhook/send?key={split.netloc}", _wecom_payload(ui_url.rstrip("/")))
    raise CoopError(
        f"协调人渠道 {channel} 须为 JSON 回调（json://…）或企业微信机器人（coop-wecom://KEY），"
        f"Prefect 自动化才能在运行失败时通知它；当前为 {scheme or '（空）'}:// "
        "(the coordinators' channel must be json:// or coop-wecom:// for the failure automation)"
    )
