"""Migrate once: entry points upgrade the schema at start; flows only check it is current and stop if not.

A database already at this code's newest revision is recognised without Alembic (its revisions are read from the
migration files' `revision =` lines): importing Alembic and reading every script cost a short command ~0.3 s of
its start-up (bench/latency.py), for the common case where there is nothing to do.
"""

from __future__ import annotations

import ast
import re
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import inspect, text

from coop.errors import SchemaOutdated
from models.db import get_engine

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"
_REVISION_LINE = re.compile(r"^(revision|down_revision)\s*(?::[^=]*)?=\s*(.+?)\s*$", re.MULTILINE)


@lru_cache(maxsize=1)
def shipped_heads() -> frozenset[str]:
    """The newest revisions among this checkout's migration files (those no other file revises), without Alembic."""
    revised: set[str] = set()
    parents: set[str] = set()
    for path in (MIGRATIONS / "versions").glob("*.py"):
        lines = dict(_REVISION_LINE.findall(path.read_text(encoding="utf-8")))
        revised.add(ast.literal_eval(lines["revision"]))
        down = ast.literal_eval(lines.get("down_revision", "None"))
        parents.update(down if isinstance(down, tuple) else [down] if down else [])
    return frozenset(revised - parents)


def current_revisions(database_url: str) -> set[str]:
    """The revisions recorded in the database (empty when it was never migrated)."""
    engine = get_engine(database_url)
    with engine.connect() as connection:
        if not inspect(connection).has_table("alembic_version"):
            return set()
        return {row[0] for row in connection.execute(text("SELECT version_num FROM alembic_version"))}


def alembic_config(database_url: str) -> Config:
    """Alembic's configuration for `database_url`, pointing at this checkout's migrations."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return cfg


def upgrade(database_url: str, revision: str = "head") -> None:
    """Bring the database to `revision` (default: the newest) through Alembic — the only way tables are created."""
    if revision == "head" and current_revisions(database_url) == shipped_heads():
        return
    from alembic import command

    cfg = alembic_config(database_url)
    with get_engine(database_url).begin() as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, revision)


@lru_cache(maxsize=1)
def _scripts() -> tuple[ScriptDirectory, frozenset[str]]:
    """This checkout's migrations and their heads, read once per process: every flow run checks the schema, and
    reading each migration file again cost ~0.1 s of a short run (profiled in bench/)."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    return script, frozenset(script.get_heads())


def revisions(database_url: str) -> tuple[set[str], set[str]]:
    """(the database's current revisions, the newest revisions this code ships); empty current = never migrated."""
    return current_revisions(database_url), set(shipped_heads())


def require_current_schema(database_url: str) -> None:
    """Raise `SchemaOutdated` (in Chinese, saying what to run) unless the database is at this code's newest schema."""
    current, heads = revisions(database_url)
    if current == heads:
        return
    script, _ = _scripts()
    shown_current = "、".join(sorted(current)) or "无（尚未建表）"
    shown_head = "、".join(sorted(heads))
    if any(not _known(script, rev) for rev in current):
        raise SchemaOutdated(
            f"数据库结构版本（{shown_current}）比本程序新（最新 {shown_head}），请先升级协作通程序；本次未读写任何数据"
            " (the database schema is newer than this code; upgrade coop)"
        )
    raise SchemaOutdated(
        f"数据库结构版本落后，请先运行 coop db upgrade（当前 {shown_current}，最新 {shown_head}）；本次未读写任何数据"
        " (the database schema is behind; run `coop db upgrade` first)"
    )


def _known(script: ScriptDirectory, revision: str) -> bool:
    from alembic.util import CommandError

    try:
        return script.get_revision(revision) is not None
    except CommandError:  # Alembic's answer for a revision it has no script for
        return False
