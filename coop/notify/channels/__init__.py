"""Notification channels, one module per protocol (apprise's convention).

- `registry`: channel names → URLs (environment, Prefect Secret blocks), URL → kind and protocol.
- `redaction`: keeping channel credentials out of logs, errors and artifacts.
- `robot`: what the group robots share; `wecom`, `dingtalk`, `feishu`: each robot's protocol.
- `file`: `coopfile://`, the local inbox for demos and offline sites.
- `transport`: one message to one URL (robots directly, everything else through apprise).
"""

from coop.errors import ChannelInvalid, ChannelNotConfigured
from coop.notify.channels.dingtalk import dingtalk_sign
from coop.notify.channels.feishu import feishu_sign
from coop.notify.channels.redaction import ENV_PREFIX, MASK, describe, redact, schema_of, secret_parts
from coop.notify.channels.registry import (
    DEFAULT_BASES,
    MESSAGE_LIMITS,
    ROBOT_KINDS,
    ROBOT_SCHEMAS,
    Channel,
    ChannelKind,
    channel_env_var,
    channel_kind,
    configured_kind,
    parse_robot_url,
    parts_for,
    request_count,
    resolve_channel,
)
from coop.notify.channels.robot import IDEMPOTENCY_HEADER, RobotTarget, parse_retry_after, split_body
from coop.notify.channels.transport import adeliver, deliver
from coop.notify.results import DeliveryResult

__all__ = [
    "DEFAULT_BASES",
    "ENV_PREFIX",
    "IDEMPOTENCY_HEADER",
    "MASK",
    "MESSAGE_LIMITS",
    "ROBOT_KINDS",
    "ROBOT_SCHEMAS",
    "Channel",
    "ChannelInvalid",
    "ChannelKind",
    "ChannelNotConfigured",
    "DeliveryResult",
    "RobotTarget",
    "adeliver",
    "channel_env_var",
    "channel_kind",
    "configured_kind",
    "deliver",
    "describe",
    "dingtalk_sign",
    "feishu_sign",
    "parse_retry_after",
    "parse_robot_url",
    "parts_for",
    "redact",
    "request_count",
    "resolve_channel",
    "schema_of",
    "secret_parts",
    "split_body",
]
