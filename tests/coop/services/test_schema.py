"""Migrate once: `upgrade` brings a database to head; `require_current_schema` refuses any other state, in Chinese."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

from coop.errors import SchemaOutdated
from coop.services.schema import _scripts, require_current_schema, revisions, shipped_heads, upgrade
from models.db import get_engine


def _stamp(url: str, revision: str) -> None:
    with get_engine(url).begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = :r"), {"r": revision})


def test_a_database_never_migrated_is_refused_until_upgraded(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    with pytest.raises(SchemaOutdated) as info:
        require_current_schema(url)
    assert "数据库结构版本落后，请先运行 coop db upgrade" in str(info.value)
    assert "尚未建表" in str(info.value)
    upgrade(url)
    require_current_schema(url)
    current, heads = revisions(url)
    assert current == heads and heads


def test_a_database_behind_or_ahead_of_the_code_is_refused(db_url: str) -> None:
    require_current_schema(db_url)  # the fixture migrated it
    _, heads = revisions(db_url)
    [head] = heads
    script_revisions = sorted(
        p.name.split("_")[0] for p in (Path(__file__).parents[3] / "migrations/versions").glob("0*.py")
    )
    older = script_revisions[script_revisions.index(head) - 1]
    _stamp(db_url, older)
    with pytest.raises(SchemaOutdated) as behind:
        require_current_schema(db_url)
    assert "coop db upgrade" in str(behind.value) and f"当前 {older}" in str(behind.value)
    _stamp(db_url, "9999")
    with pytest.raises(SchemaOutdated) as ahead:
        require_current_schema(db_url)
    assert "比本程序新" in str(ahead.value)
    _stamp(db_url, head)
    require_current_schema(db_url)


def test_the_heads_read_from_the_files_are_alembics_heads() -> None:
    """The fast start-up check reads revisions without Alembic; it must name exactly what Alembic would."""
    _, heads = _scripts()
    assert shipped_heads() == heads and len(heads) == 1


def test_a_current_database_starts_without_alembic(tmp_path: Path) -> None:
    """Every command upgrades at start; at head that must not cost Alembic's import (a fresh process shows it)."""
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    upgrade(url)
    probe = (
        "import sys; from coop.services.schema import upgrade; upgrade(sys.argv[1]); print('alembic' in sys.modules)"
    )
    run = subprocess.run([sys.executable, "-c", probe, url], capture_output=True, text=True, check=True)
    assert run.stdout.strip() == "False", run.stderr
    blank = f"sqlite:///{tmp_path / 'blank.db'}"
    run = subprocess.run([sys.executable, "-c", probe, blank], capture_output=True, text=True, check=True)
    assert run.stdout.strip() == "True" and revisions(blank)[0] == shipped_heads()
