"""The `coop` command picks the project's Prefect home itself: the README's commands work without PREFECT_HOME."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from conftest import ROOT

from coop.prefect_home import default_prefect_home

PROBE = "import coop.cli, prefect.settings; print(prefect.settings.get_current_settings().home)"


def _prefect_home_seen_by_the_cli(env: dict[str, str]) -> Path:
    done = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=True
    )
    return Path(done.stdout.strip().splitlines()[-1])


def test_the_cli_uses_the_projects_prefect_home_when_none_is_set() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    assert _prefect_home_seen_by_the_cli(env) == default_prefect_home() == ROOT / ".coop" / "prefect"
    assert default_prefect_home().is_dir()


def test_an_operators_prefect_home_wins(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")} | {"PREFECT_HOME": str(tmp_path)}
    assert _prefect_home_seen_by_the_cli(env) == tmp_path
