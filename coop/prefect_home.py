"""Where Prefect keeps its database and settings when the operator did not say: inside the checkout.

The README's commands must work as printed. Without PREFECT_HOME, Prefect would use ~/.prefect, away from the
project's `make ui` server (the Makefile and `coop.ui` use `<checkout>/.coop/prefect`). Only the environment is
read or set here, so the CLI can call it before anything imports Prefect (which reads PREFECT_HOME on import).
"""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parents[1]


def default_prefect_home() -> Path:
    return PROJECT_DIR / ".coop" / "prefect"


def ensure_prefect_home() -> Path:
    """Set PREFECT_HOME to the project's default when unset (an operator's value wins); create the folder."""
    home = Path(os.environ.get("PREFECT_HOME") or default_prefect_home()).expanduser()
    os.environ.setdefault("PREFECT_HOME", str(home))
    home.mkdir(parents=True, exist_ok=True)
    return home
