"""Notifications, pure: reminder policy, digest shapes and their Chinese rendering, channels, and the sender.

Deciding who is told and delivering the outbox are use cases: `coop.services.notifications` and
`coop.services.delivery`.
"""
