"""`coopfile:///abs/path/inbox.md`: a channel that appends messages to a local file — for demos and offline sites.

Registered as an apprise custom schema (`apprise.decorators.notify`), so plain apprise can use it too.
"""

from __future__ import annotations

import fcntl
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from apprise.decorators import notify as apprise_notify
from apprise.manager_plugins import NotificationManager

SCHEMA = "coopfile"


def file_path(url: str) -> Path:
    """Always absolute: apprise folds `coopfile:///abs/x.md` to `coopfile://abs/x.md`, so both mean /abs/x.md."""
    rest = url.split("://", 1)[1].split("?", 1)[0]
    return Path("/" + unquote(rest).lstrip("/"))


def append_message(path: Path, title: str, body: str) -> None:
    """One message per append, under a lock, so concurrent dispatchers never interleave two messages."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        handle.write(f"## {title}\n\n{body.rstrip()}\n\n---\n\n")


def _send(body: str, title: str, *args: Any, meta: dict[str, Any], **kwargs: Any) -> bool:  # noqa: ARG001
    try:
        append_message(file_path(meta["url"]), title, body)
    except OSError:
        return False
    return True


def register() -> None:
    """Make `coopfile://` known to apprise, once per process (a repeat registration makes apprise warn)."""
    if SCHEMA not in NotificationManager():
        apprise_notify(on=SCHEMA, name="coop local file")(_send)
