"""`coop check FILE...`: no database, every problem printed, exit 0 only when every file is valid."""

from __future__ import annotations

from pathlib import Path

from conftest import AGREEMENT_FILES, FIXTURES
from typer.testing import CliRunner

from coop.cli import app

runner = CliRunner()


def test_valid_files_exit_0() -> None:
    result = runner.invoke(app, ["check", *(str(p) for p in AGREEMENT_FILES)])
    assert result.exit_code == 0, result.output
    assert f"{len(AGREEMENT_FILES)} 个文件均有效" in result.output


def test_invalid_file_lists_every_problem_and_exits_1(tmp_path: Path) -> None:
    text = (FIXTURES / "small.yaml").read_text(encoding="utf-8")
    bad = tmp_path / "坏.yaml"
    bad.write_text(text.replace("title: 测试合作协议", "title：测试合作协议").replace("kind: patrol", "kind: picnic"))
    good = tmp_path / "good.yaml"
    good.write_text(text)
    result = runner.invoke(app, ["check", str(good), str(bad)])
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if line.startswith(str(bad))]
    assert len(lines) == 2
    assert lines[0].startswith(f"{bad}:3:6: 全角冒号“：”")
    assert "条款 6.1 'kind': 须是以下之一" in lines[1]
    assert "2 个文件，共 2 个问题" in result.output
    assert "Traceback" not in result.output


def test_missing_file_is_a_problem_not_a_traceback(tmp_path: Path) -> None:
    result = runner.invoke(app, ["check", str(tmp_path / "none.yaml")])
    assert result.exit_code == 1
    assert f"{tmp_path / 'none.yaml'}: 无法读取文件：No such file or directory (cannot read file)" in result.output
    assert "Traceback" not in result.output
