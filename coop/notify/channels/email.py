"""E-mail (`mailto://`, `mailtos://`, apprise's plugin): the markdown digest becomes the HTML part here.

Apprise converts markdown with Python-Markdown, which passes raw HTML through, so an agreement text like
`<script>…` would reach mail clients as live markup. We render the HTML ourselves with markdown-it
(CommonMark, raw HTML off: every `<` in the text arrives as `&lt;`, `javascript:` links are refused)
and hand apprise finished HTML; apprise derives the plain-text part from it.
"""

from __future__ import annotations

import ssl
from functools import lru_cache
from typing import Any

import apprise.plugins.email.smtp as apprise_smtp
from markdown_it import MarkdownIt

SCHEMAS = frozenset({"mailto", "mailtos"})


@lru_cache(maxsize=1)
def _renderer() -> MarkdownIt:
    return MarkdownIt("commonmark", {"html": False}).enable("table")


def email_html(markdown: str) -> str:
    """A markdown body as HTML in which any text, however hostile, stays text."""
    return str(_renderer().render(markdown))


class _TlsChoice:
    """What apprise's SMTP controller gets from `ssl.create_default_context()`: its two settings, then the socket.

    Apprise builds a new default context for every e-mail, even one sent without TLS: loading the system's CA
    certificates takes ~20 ms of CPU each time, a third of the dispatcher's CPU on the 1M-row day (issue 16).
    The controller only sets `check_hostname` and `verify_mode` (for `verify=no`) and hands the context to
    smtplib, which only calls `wrap_socket`: this records the settings and wraps with a context built once per
    setting (contexts are safe to share between threads). Any other use fails loudly (`__slots__`)."""

    __slots__ = ("check_hostname", "verify_mode")

    def __init__(self) -> None:
        self.check_hostname = True
        self.verify_mode = ssl.CERT_REQUIRED

    def wrap_socket(self, *args: Any, **kwargs: Any) -> ssl.SSLSocket:
        return shared_tls_context(self.check_hostname, self.verify_mode).wrap_socket(*args, **kwargs)


@lru_cache(maxsize=4)
def shared_tls_context(check_hostname: bool, verify_mode: ssl.VerifyMode) -> ssl.SSLContext:
    """The default client context with apprise's settings, built once per setting."""
    context = ssl.create_default_context()
    context.check_hostname = check_hostname
    context.verify_mode = verify_mode
    return context


class _SslForApprise:
    """The `ssl` module as apprise's SMTP controller sees it: itself, but `create_default_context` is `_TlsChoice`."""

    create_default_context = _TlsChoice

    def __getattr__(self, name: str) -> Any:
        return getattr(ssl, name)


setattr(apprise_smtp, "ssl", _SslForApprise())  # noqa: B010 - the module does not export the name
