"""Migrate once: entry points upgrade the schema at start; flows only check it is current and stop if not."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError

from coop.errors import SchemaOutdated
from models.db import get_engine

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


def alembic_config(database_url: str) -> Config:
    """Alembic's configuration for `database_url`, pointing at this checkout's migrations."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return cfg


def upgrade(database_url: str, revision: str = "head") -> None:
    """Bring the database to `revision` (default: the newest) through Alembic — the only way tables are created."""
    cfg = alembic_config(database_url)
    with get_engine(database_url).begin() as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, revision)


@lru_cache(maxsize=1)
def _scripts() -> tuple[ScriptDirectory, frozenset[str]]:
    """This checkout's migrations and their heads, read once per process: every flow run checks the schema, and
    reading each migration file again cost ~0.1 s of a short run (profiled in bench/)."""
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    return script, frozenset(script.get_heads())


def _state(database_url: str) -> tuple[ScriptDirectory, set[str], set[str]]:
    script, heads = _scripts()
    with get_engine(database_url).connect() as connection:
        current = set(MigrationContext.configure(connection).get_current_heads())
    return script, current, set(heads)


def revisions(database_url: str) -> tuple[set[str], set[str]]:
    """(the database's current revisions, the newest revisions this code ships); empty current = never migrated."""
    _, current, heads = _state(database_url)
    return current, heads


def require_current_schema(database_url: str) -> None:
    """Raise `SchemaOutdated` (in Chinese, saying what to run) unless the database is at this code's newest schema."""
    script, current, heads = _state(database_url)
    if current == heads:
        return
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
    try:
        return script.get_revision(revision) is not None
    except CommandError:  # Alembic's answer for a revision it has no script for
        return False
