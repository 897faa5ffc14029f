"""Schema migration as a task, so every flow starts on an up-to-date database."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE

from coop.migrate import upgrade


@task(name="升级数据库结构 migrate database", cache_policy=NO_CACHE)
def migrate_database(database_url: str | None = None) -> None:
    upgrade(database_url)
