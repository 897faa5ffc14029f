"""A real local SMTP server (aiosmtpd) that keeps every message, parsed so tests read decoded Chinese."""

from __future__ import annotations

import email
import email.policy
import threading
import time
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller


@dataclass(frozen=True)
class Mail:
    """One received message: envelope plus the parsed message."""

    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    @property
    def text(self) -> str:
        """The body a person reads: plain part if any, else HTML, decoded."""
        part = self.message.get_body(preferencelist=("plain", "html"))
        return part.get_content() if part is not None else ""

    @property
    def html(self) -> str | None:
        """The HTML part a mail client renders, decoded; None for a plain-text message."""
        part = self.message.get_body(preferencelist=("html",))
        return part.get_content() if part is not None else None


class _Inbox:
    """aiosmtpd handler: accept everything and remember it."""

    def __init__(self) -> None:
        self.mails: list[Mail] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, _server: Any, _session: Any, envelope: Any) -> str:  # aiosmtpd passes all three
        raw = envelope.original_content or envelope.content
        message = email.message_from_bytes(raw, policy=email.policy.default)
        with self.lock:
            self.mails.append(Mail(envelope.mail_from, list(envelope.rcpt_tos), message))  # type: ignore[arg-type]
        return "250 Message accepted for delivery"


class _EphemeralController(Controller):
    """Binds port 0 and learns the real port before aiosmtpd connects to itself to check readiness."""

    def _trigger_server(self) -> None:
        assert self.server is not None
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


class SmtpSink:
    """`start()` then send to `host:port` with no TLS and no auth; read `mails`."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self._inbox = _Inbox()
        self._controller = _EphemeralController(self._inbox, hostname=host, port=0)
        self._running = False

    def start(self) -> SmtpSink:
        self._controller.start()
        self._running = True
        return self

    def stop(self) -> None:
        """Close the listener (clients get "connection refused"); safe to call twice."""
        if self._running:
            self._controller.stop()
            self._running = False

    def restart(self) -> None:
        """Listen again on the same port, keeping received mail (a stopped controller cannot restart)."""
        port = self.port
        self.stop()
        self._controller = _EphemeralController(self._inbox, hostname=self.host, port=port)
        self.start()

    @property
    def port(self) -> int:
        return self._controller.port

    @property
    def mails(self) -> list[Mail]:
        with self._inbox.lock:
            return list(self._inbox.mails)

    def mailto_url(self, to: str = "dept@example.cn", sender: str = "coop@example.cn") -> str:
        """The apprise URL for plain SMTP to this sink (`mailto://` = no TLS; mode=insecure says so)."""
        return f"mailto://{self.host}:{self.port}?from={sender}&to={to}&mode=insecure"

    def wait_for(self, count: int = 1, timeout: float = 5.0) -> list[Mail]:
        """Mail is handed over before the server's handler finishes; wait until it is stored."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            mails = self.mails
            if len(mails) >= count:
                return mails
            time.sleep(0.02)
        return self.mails
