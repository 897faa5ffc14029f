"""Notifications: channel lookup, reminder policy, Chinese message rendering and delivery."""

from coop.notify import filechannel  # noqa: F401  (registers coopfile://)
from coop.notify.channels import Channel, ChannelInvalid, ChannelNotConfigured, channel_kind, redact, resolve_channel
from coop.notify.digest import Digest, DigestItem, NoticeKind
from coop.notify.policy import Notice, ReminderPolicy, notices_for, plan_notice
from coop.notify.robots import DeliveryResult, adeliver, deliver
from coop.notify.templates import render_digest, render_weekly

__all__ = [
    "Channel",
    "ChannelInvalid",
    "ChannelNotConfigured",
    "DeliveryResult",
    "Digest",
    "DigestItem",
    "Notice",
    "NoticeKind",
    "ReminderPolicy",
    "adeliver",
    "channel_kind",
    "deliver",
    "notices_for",
    "plan_notice",
    "redact",
    "render_digest",
    "render_weekly",
    "resolve_channel",
]
