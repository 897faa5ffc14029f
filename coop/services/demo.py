"""The README's demo, offline: channels nobody configured deliver into local files under an inbox folder."""

from __future__ import annotations

import os
from pathlib import Path

from coop.notify.channels import channel_env_var
from coop.store.notices import channel_references
from models.db import session_scope


def use_local_inbox(database_url: str, inbox: Path) -> list[str]:
    """Point every channel the agreements name but the environment leaves unset at `<inbox>/<channel>.md`.

    Sets the variables in this process only (for the delivery that follows); returns the channels redirected.
    """
    with session_scope(database_url) as session:
        names = sorted(channel_references(session))
    redirected = []
    for name in names:
        variable = channel_env_var(name)
        if variable not in os.environ:
            os.environ[variable] = f"coopfile://{inbox.resolve() / name}.md"
            redirected.append(name)
    return redirected
