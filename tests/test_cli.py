"""The README's demo path, end to end: the real `coop` console script on a fresh SQLite file."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import AGREEMENT_FILES, AGREEMENTS, FIXTURES

COOP = str(Path(sys.executable).parent / "coop")


def run(args: list[str], tmp_path: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "COOP_DATABASE_URL": f"sqlite:///{tmp_path / 'demo.db'}",
        "PREFECT_HOME": str(tmp_path / "prefect"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    }
    env.pop("PREFECT_API_URL", None)
    # Run outside the checkout: the demo writes its local inbox under the working directory.
    proc = subprocess.run(
        [COOP, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"coop {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


@pytest.mark.slow
def test_demo_plans_every_shipped_agreement_and_replan_is_a_noop(tmp_path: Path) -> None:
    out = run(["demo", "--directory", str(AGREEMENTS), "--today", "2026-11-25"], tmp_path).stdout
    titles = {p.stem for p in AGREEMENT_FILES}
    assert len(titles) >= 4
    for stem in titles:
        assert stem in out
    assert "近期到期的 10 项任务" in out
    assert "台账完整" in out
    inbox = sorted((tmp_path / ".coop" / "inbox").glob("*.md"))
    assert inbox and "完成后请登记" in inbox[0].read_text(encoding="utf-8")
    # as a shell's agreements/*.yaml would: the registry among them is skipped, not planned
    again = run(["plan", *sorted(str(p) for p in AGREEMENTS.glob("*.yaml")), "--today", "2026-11-25"], tmp_path).stdout
    assert again.count("协议未变化") == len(titles)


@pytest.mark.slow
def test_invalid_file_exits_2_with_location_and_no_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        (FIXTURES / "small.yaml").read_text(encoding="utf-8").replace("kind: patrol", "kind: picnic"), encoding="utf-8"
    )
    proc = run(["plan", str(bad)], tmp_path, check=False)
    assert proc.returncode == 2
    assert f"{bad}:" in proc.stderr and "条款 6.1 'kind': 须是以下之一" in proc.stderr
    assert "Traceback" not in proc.stderr
