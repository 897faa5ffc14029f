"""The schema check every flow starts with: migrating is done once, at start-up (`coop db upgrade`), not per run."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE

from coop.services.schema import require_current_schema
from tasks.report import explain_user_error


@task(name="检查数据库结构 check database schema", cache_policy=NO_CACHE, on_failure=[explain_user_error])
def check_schema(database_url: str) -> None:
    """Stop the run, saying in Chinese to run `coop db upgrade`, when the database schema is not current."""
    require_current_schema(database_url)
