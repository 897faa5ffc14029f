"""`coop plan` of an amendment prints its effective date and the change clause by clause, with dates."""

from __future__ import annotations

from pathlib import Path

from conftest import FIXTURES
from typer.testing import CliRunner

from coop.cli import app

runner = CliRunner()


def test_replan_prints_each_clauses_change_from_its_effective_date(db_env: str, tmp_path: Path) -> None:
    agreement = tmp_path / "small.yaml"
    text = (FIXTURES / "small.yaml").read_text(encoding="utf-8")
    agreement.write_text(text, encoding="utf-8")
    first = runner.invoke(app, ["plan", str(agreement), "--today", "2026-03-01"])
    assert first.exit_code == 0, first.output
    assert "生效日期" not in first.output and "条款 1.1" not in first.output

    # 6.1 moves from the 10th to the 20th; the past stays as it was.
    agreement.write_text(text.replace("BYMONTHDAY=10", "BYMONTHDAY=20"), encoding="utf-8")
    amended = runner.invoke(app, ["plan", str(agreement), "--today", "2026-03-01"])
    assert amended.exit_code == 0, amended.output
    assert "生效日期 2026-03-01" in amended.output
    lines = [line for line in amended.output.splitlines() if "条款 6.1" in line]
    assert len(lines) == 2, amended.output
    cancelled, added = sorted(lines, key=lambda line: "新增" in line)
    assert "取消 3 项" in cancelled and "2026-03-10" in cancelled and "2025-09-10" not in cancelled
    assert "新增 3 项" in added and "2026-03-20" in added and "2025-09-20" not in added
